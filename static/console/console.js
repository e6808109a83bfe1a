// Small enhancements of the Gatehouse console; every page also works without them.
(function () {
  "use strict";

  function announce(button, text) {
    var original = button.getAttribute("data-label") || button.textContent;
    button.setAttribute("data-label", original);
    button.textContent = text;
    window.setTimeout(function () { button.textContent = original; }, 1500);
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain http (a local set-up) has no clipboard API; fall back to a selection.
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "absolute";
    area.style.left = "-9999px";
    document.body.appendChild(area);
    area.select();
    var ok = document.execCommand("copy");
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) { return; }
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) { return; }
    var text = source.value !== undefined ? source.value : source.textContent;
    copyText(text.trim()).then(
      function () { announce(button, "Copied"); },
      function () { announce(button, "Press Ctrl+C"); }
    );
  });

  // One navigation group open at a time; a click elsewhere closes it.
  document.addEventListener("click", function (event) {
    var inside = event.target.closest(".navgroup");
    document.querySelectorAll(".navgroup[open]").forEach(function (group) {
      if (group !== inside) { group.removeAttribute("open"); }
    });
  });

  // Ticking a tool means curating by hand: switch the mode to "selected".
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("input[name=tool_allow]")) { return; }
    var form = box.form;
    var selected = form && form.querySelector("input[name=tool_mode][value=selected]");
    if (selected) { selected.checked = true; }
  });
})();
