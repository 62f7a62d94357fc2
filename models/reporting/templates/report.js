// The customer lookup. Every value from data is written with textContent, never as markup.
(function () {
  "use strict";
  var root = document.documentElement;
  var errors = [];
  function fail(message) {
    errors.push(String(message));
    root.setAttribute("data-js-errors", String(errors.length));
    var box = document.getElementById("js-errors");
    if (box) {
      box.hidden = false;
      box.textContent = ui.js_error + errors.join("; ");
    }
  }
  var ui = {};
  window.addEventListener("error", function (event) { fail(event.message); });
  try {
    ui = JSON.parse(document.getElementById("ui-text").textContent);
    var data = JSON.parse(document.getElementById("lookup-data").textContent);
    var form = document.getElementById("lookup-form");
    if (!form) { root.setAttribute("data-ready", "1"); return; }
    var input = document.getElementById("lookup-input");
    var result = document.getElementById("lookup-result");
    var columns = data.columns;
    var byId = new Map();
    data.rows.forEach(function (row) { byId.set(String(row[0]).toLowerCase(), row); });

    function cell(tag, value) {
      var node = document.createElement(tag);
      node.textContent = value;
      return node;
    }
    function show(query) {
      while (result.firstChild) { result.removeChild(result.firstChild); }
      query = query.trim();
      if (!query) { return; }
      var row = byId.get(query.toLowerCase());
      if (!row) {
        var none = cell("p", ui.lookup_none);
        none.className = "none";
        result.appendChild(none);
        result.setAttribute("data-found", "0");
        return;
      }
      var table = document.createElement("table");
      table.id = "lookup-row";
      columns.forEach(function (name, i) {
        var tr = document.createElement("tr");
        tr.appendChild(cell("th", ui["col_" + name] || name));
        var td = document.createElement("td");
        td.setAttribute("data-col", name);
        if (name === "reasons") {
          var list = document.createElement("ol");
          row[i].forEach(function (reason) { list.appendChild(cell("li", reason)); });
          td.appendChild(list);
        } else {
          td.textContent = row[i];
        }
        tr.appendChild(td);
        table.appendChild(tr);
      });
      result.appendChild(table);
      result.setAttribute("data-found", "1");
    }
    function fromAddress() {
      // report.html#customer=C000123 (or ?customer=C000123) opens with that customer shown
      var text = window.location.hash.replace(/^#/, "") || window.location.search.replace(/^\?/, "");
      var params = new URLSearchParams(text);
      var id = params.get("customer");
      if (id !== null) {
        input.value = id;
        show(id);
      }
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      show(input.value);
    });
    window.addEventListener("hashchange", fromAddress);
    fromAddress();
    root.setAttribute("data-ready", "1");
  } catch (err) {
    fail(err && err.message ? err.message : err);
  }
})();
