fn main() -> anyhow::Result<()> {
    emporium::cli::main()
}
