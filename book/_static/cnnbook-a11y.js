/* Accessible names and roles that the theme and docutils get wrong (WCAG 2.1, checked by
   axe-core in tests/browser/test_rendered_book.py). Listed in _config.yml, html_js_files.

   - The search buttons show "Search Ctrl+K" but are named "Search": the shortcut becomes
     aria-keyshortcuts, hidden from the name, so the visible label and the name agree.
   - The colour-mode button is named "Color mode", but the icon it shows carries a title
     ("Light", "Dark", "System Settings") that counts as its visible text: the name
     becomes "Color mode: Light" (and so on, following the mode), the icons decoration.
   - A hidden cell's toggle shows "Show code cell content" but is named "Toggle hidden
     content" (myst-nb): the visible text is the better name.
   - The references page: docutils marks each entry with the deprecated ARIA role
     doc-biblioentry inside a role="list", which needs listitem children. */
(function () {
  "use strict";

  // The colour-mode button's name, with the title of the icon it shows for the mode.
  function nameThemeButtons() {
    var mode = document.documentElement.dataset.mode || "auto";
    document.querySelectorAll(".theme-switch-button").forEach(function (button) {
      // the icon is an <i title="..."> until Font Awesome turns it into an <svg><title>
      var icon = button.querySelector('.theme-switch[data-mode="' + mode + '"]');
      var title = icon && (icon.getAttribute("title") || icon.textContent.trim());
      var label = button.dataset.cnnbookLabel;
      button.setAttribute("aria-label", title ? label + ": " + title : label);
    });
  }

  function fix() {
    document.querySelectorAll(".search-button__button").forEach(function (button) {
      button.removeAttribute("aria-label");
      button.setAttribute("aria-keyshortcuts", "Control+K");
      button.querySelectorAll(".search-button__kbd-shortcut").forEach(function (shortcut) {
        shortcut.setAttribute("aria-hidden", "true");
      });
    });
    document.querySelectorAll(".theme-switch-button").forEach(function (button) {
      button.dataset.cnnbookLabel = button.getAttribute("aria-label") || "Color mode";
      button.querySelectorAll(".theme-switch").forEach(function (icon) {
        icon.setAttribute("aria-hidden", "true");
      });
    });
    nameThemeButtons();
    // The theme sets data-mode on <html> at each click of the button.
    new MutationObserver(nameThemeButtons).observe(document.documentElement, {
      attributes: true,
      attributeFilter: ["data-mode"],
    });
    document.querySelectorAll('summary[aria-label="Toggle hidden content"]').forEach(
      function (summary) {
        summary.removeAttribute("aria-label");
      }
    );
    document.querySelectorAll('[role="doc-biblioentry"]').forEach(function (entry) {
      entry.setAttribute("role", "listitem");
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", fix);
  } else {
    fix();
  }
})();
