// Put back what was typed into a form whose post found the session ended (web/kept_forms.py):
// only the form that was posted, only fields the server kept (never passwords or hidden
// fields); the person checks it and sends it again.
(function () {
  var data = document.getElementById("kept-form");
  if (!data) { return; }
  var kept = JSON.parse(data.textContent);
  document.querySelectorAll("form").forEach(function (form) {
    if (form.getAttribute("action") !== kept.action) { return; }
    Array.prototype.forEach.call(form.elements, function (element) {
      var values = kept.fields[element.name];
      if (!values || element.type === "hidden" || element.type === "password") { return; }
      if (element.type === "checkbox" || element.type === "radio") {
        element.checked = values.indexOf(element.value) !== -1;
      } else if (element.tagName === "SELECT" && element.multiple) {
        Array.prototype.forEach.call(element.options, function (option) {
          option.selected = values.indexOf(option.value) !== -1;
        });
      } else {
        element.value = values[0];
      }
    });
  });
})();
