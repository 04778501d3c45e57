// ollama-gate admin UI: the copy button (served as a file: the CSP forbids inline scripts).
(function () {
  "use strict";

  function fallbackCopy(text) {
    // navigator.clipboard needs a secure context (HTTPS or localhost); plain HTTP uses this
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok;
  }

  function copied(button, ok) {
    var label = button.getAttribute("data-label") || button.textContent;
    button.setAttribute("data-label", label);
    button.textContent = ok ? "Copied" : "Select and copy by hand";
    window.setTimeout(function () { button.textContent = label; }, 2000);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) { return; }
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) { return; }
    var text = source.textContent.trim();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () { copied(button, true); },
        function () { copied(button, fallbackCopy(text)); });
    } else {
      copied(button, fallbackCopy(text));
    }
  });
})();

// The key form's model suggestions: a click adds the model to the allowlist field.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var chip = event.target.closest("[data-add-model]");
    if (!chip) { return; }
    var field = document.getElementById(chip.getAttribute("data-target"));
    if (!field) { return; }
    var name = chip.getAttribute("data-add-model");
    var have = field.value.split(/[,\s]+/).filter(Boolean);
    if (have.indexOf(name) < 0) { have.push(name); }
    field.value = have.join(", ");
    field.focus();
  });
})();
