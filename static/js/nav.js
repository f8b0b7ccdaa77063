// Progressive enhancement for the site header (templates/base.html); without it the
// "Menu" <details> still opens and closes, and CSS keeps the links inline on wide screens
// where the browser supports ::details-content.
(function () {
  "use strict";
  const header = document.querySelector(".site-header");
  if (!header) return;
  const menu = header.querySelector("details.menu");
  const wide = window.matchMedia("(min-width: 56em)");

  // Wide screens: the links sit inline, so the <details> is open (and its summary hidden).
  // Narrow screens: it starts closed, one "Menu" button in the bar.
  function fitMenu() {
    if (menu) menu.open = wide.matches;
  }

  // The sticky bar's real height (it grows with the text size) keeps focused controls from
  // being hidden under it: app.css uses --header-height for scroll-padding-top.
  function measure() {
    document.documentElement.style.setProperty("--header-height", header.offsetHeight + "px");
  }

  fitMenu();
  measure();
  wide.addEventListener("change", fitMenu);
  if ("ResizeObserver" in window) {
    new ResizeObserver(measure).observe(header);
  } else {
    window.addEventListener("resize", measure);
  }

  if (!menu) return;
  const summary = menu.querySelector("summary");
  // Escape closes the open menu on a narrow screen and returns focus to "Menu".
  menu.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && menu.open && !wide.matches) {
      menu.open = false;
      summary.focus();
    }
  });
  // A tap or click elsewhere closes it too.
  document.addEventListener("click", function (event) {
    if (menu.open && !wide.matches && !menu.contains(event.target)) menu.open = false;
  });
})();
