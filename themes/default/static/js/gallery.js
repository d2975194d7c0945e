// Product gallery: clicking a thumbnail shows it as the main image instead of
// following the link. Without JavaScript the thumbnails simply open the image.
(function () {
  var main = document.getElementById("gallery-main-image");
  if (!main) return;
  var caption = document.getElementById("gallery-caption");
  document.querySelectorAll(".gallery-thumb").forEach(function (a) {
    a.addEventListener("click", function (e) {
      if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
      e.preventDefault();
      main.src = a.getAttribute("href");
      main.width = +a.dataset.width || main.width;
      main.height = +a.dataset.height || main.height;
      main.alt = a.dataset.alt || "";
      if (caption) caption.textContent = a.dataset.caption || "";
      document.querySelectorAll(".gallery-thumb[aria-current]").forEach(function (t) {
        t.removeAttribute("aria-current");
      });
      a.setAttribute("aria-current", "true");
    });
  });
})();
