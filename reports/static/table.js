// Sortable columns and row filters for onkobench tables; no dependencies, works from file://.
(function () {
  "use strict";
  function cellValue(row, index, numeric) {
    var cell = row.cells[index];
    var raw = cell.hasAttribute("data-value") ? cell.getAttribute("data-value") : cell.textContent.trim();
    if (numeric) { var n = parseFloat(raw); return isNaN(n) ? -Infinity : n; }
    return raw.toLowerCase();
  }
  function sortBy(table, header, index) {
    var numeric = header.getAttribute("data-type") === "number";
    var ascending = !header.classList.contains("sorted-asc");
    table.querySelectorAll("th").forEach(function (th) { th.classList.remove("sorted-asc", "sorted-desc"); });
    header.classList.add(ascending ? "sorted-asc" : "sorted-desc");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cellValue(a, index, numeric), y = cellValue(b, index, numeric);
      if (x < y) return ascending ? -1 : 1;
      if (x > y) return ascending ? 1 : -1;
      return 0;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (header, index) {
      header.addEventListener("click", function () { sortBy(table, header, index); });
    });
  });
  function tableAfter(element) {
    for (var next = element.nextElementSibling; next; next = next.nextElementSibling) {
      var table = next.tagName === "TABLE" ? next : next.querySelector("table");
      if (table) return table;
    }
    return null;
  }
  // A filter box is an input, or a div.filters holding the input and a kind menu (rows carry data-kind).
  document.querySelectorAll("input.filter").forEach(function (input) {
    var box = input.parentElement.classList.contains("filters") ? input.parentElement : input;
    var kindMenu = box === input ? null : box.querySelector("select.kind-filter");
    var table = tableAfter(box);
    if (!table) return;
    function apply() {
      var needle = input.value.toLowerCase();
      var kind = kindMenu ? kindMenu.value : "";
      Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
        var shown = row.textContent.toLowerCase().indexOf(needle) >= 0 && (!kind || row.getAttribute("data-kind") === kind);
        row.style.display = shown ? "" : "none";
      });
    }
    input.addEventListener("input", apply);
    if (kindMenu) kindMenu.addEventListener("change", apply);
  });
})();
