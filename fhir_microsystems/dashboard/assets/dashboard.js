/* fhir-microsystems dashboard: hover tips on chart points, scorecard sorting. No dependencies. */
(function () {
  "use strict";
  var tip = document.createElement("div");
  tip.id = "tip";
  tip.setAttribute("role", "status");
  document.body.appendChild(tip);
  function show(el, x, y) {
    tip.textContent = el.getAttribute("data-tip");
    tip.style.display = "block";
    tip.style.left = Math.min(x + 12, window.innerWidth - 330) + "px";
    tip.style.top = (y + 12) + "px";
  }
  function hide() { tip.style.display = "none"; }
  document.querySelectorAll("[data-tip]").forEach(function (el) {
    el.addEventListener("mouseenter", function (e) { show(el, e.clientX, e.clientY); });
    el.addEventListener("mousemove", function (e) { show(el, e.clientX, e.clientY); });
    el.addEventListener("mouseleave", hide);
    el.addEventListener("focus", function () {
      var r = el.getBoundingClientRect(); show(el, r.left, r.top);
    });
    el.addEventListener("blur", hide);
  });
  var button = document.getElementById("sort-concern");
  if (button) {
    button.addEventListener("click", function () {
      var byConcern = button.getAttribute("aria-pressed") !== "true";
      document.querySelectorAll("tbody.dept-rows").forEach(function (body) {
        var rows = Array.prototype.slice.call(body.querySelectorAll("tr.ms"));
        rows.sort(function (a, b) {
          if (byConcern) {
            return (+b.dataset.concern - +a.dataset.concern) || a.dataset.name.localeCompare(b.dataset.name);
          }
          return a.dataset.name.localeCompare(b.dataset.name);
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
      button.setAttribute("aria-pressed", byConcern ? "true" : "false");
      button.textContent = byConcern ? "Sort by name" : "Sort by concern";
    });
  }
})();
