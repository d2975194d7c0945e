// The dashboard's progressive enhancement, loaded only when `cargo xtask` has copied the
// vendored Trix and Tom Select into static/vendor/ (see dashboard-assets/). Without it (or
// without JavaScript) every form works as plain HTML: textareas take HTML or plain text, and
// pickers take ids. The server cleans whatever rich text arrives (ammonia), so nothing here
// is a safety measure.
(function () {
  "use strict";

  // Rich text: a Trix editor over each textarea marked `data-rich-text`. Trix writes its HTML
  // into the textarea itself (its `input` element), so the form posts the same field.
  function richText() {
    if (!window.Trix) return;
    // No file attachments: descriptions hold text, images go through the image pages.
    document.addEventListener("trix-file-accept", function (event) {
      event.preventDefault();
    });
    document.querySelectorAll("textarea[data-rich-text]").forEach(function (area) {
      if (!area.id) return;
      var editor = document.createElement("trix-editor");
      editor.setAttribute("input", area.id);
      editor.className = "dash-rich-text";
      var label = document.querySelector('label[for="' + area.id + '"]');
      if (label) {
        if (!label.id) label.id = area.id + "-label";
        editor.setAttribute("aria-labelledby", label.id);
      }
      area.hidden = true;
      area.insertAdjacentElement("afterend", editor);
    });
  }

  // Searchable pickers: `data-picker` on a <select> (its options stay, more are searched) or on
  // a text input of ids (`data-multiple` for several, best first), backed by `data-lookup`,
  // a JSON search answering [{id, text}].
  function pickers() {
    if (!window.TomSelect) return;
    document.querySelectorAll("[data-picker][data-lookup]").forEach(function (el) {
      var url = el.getAttribute("data-lookup");
      var multiple = el.hasAttribute("data-multiple");
      var known = [];
      try {
        known = JSON.parse(el.getAttribute("data-options") || "[]");
      } catch (e) {
        known = [];
      }
      var settings = {
        valueField: "id",
        labelField: "text",
        searchField: ["text"],
        options: known,
        maxOptions: 50,
        loadThrottle: 250,
        load: function (query, done) {
          fetch(url + "?q=" + encodeURIComponent(query), {
            credentials: "same-origin",
            headers: { Accept: "application/json" },
          })
            .then(function (r) {
              return r.ok ? r.json() : [];
            })
            .then(done)
            .catch(function () {
              done();
            });
        },
      };
      if (el.tagName === "INPUT") {
        // The field keeps its plain format (ids separated by commas); an id typed by hand
        // is still accepted.
        el.value = el.value
          .split(/[\s,]+/)
          .filter(Boolean)
          .join(",");
        settings.delimiter = ",";
        settings.create = true;
        settings.persist = false;
        settings.maxItems = multiple ? null : 1;
        settings.createFilter = /^\d+$/;
        if (multiple) {
          settings.plugins = ["remove_button", "drag_drop"];
          // Ready for the next pick once one is chosen.
          settings.onItemAdd = function () {
            this.setTextboxValue("");
            this.refreshOptions(false);
          };
        }
      } else if (!el.multiple) {
        settings.allowEmptyOption = true;
      }
      new window.TomSelect(el, settings);
    });
  }

  function start() {
    richText();
    pickers();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
