fn main() {
    println!("emporium");
}
