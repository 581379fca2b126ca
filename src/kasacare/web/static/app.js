// A little plain JavaScript: the card goes only to the tokenizer; Premium's 10-camera limit
// is shown in the form before the server says so.
(function () {
  // No inline handlers: the Content Security Policy allows our own script files only.
  document.querySelectorAll("button[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
  var cardForm = document.getElementById("card-form");
  if (cardForm) {
    cardForm.addEventListener("submit", function (event) {
      if (cardForm.elements.token.value) { return; }
      event.preventDefault();
      var error = cardForm.querySelector("[data-card-error]");
      error.hidden = true;
      fetch(cardForm.dataset.tokenizer, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          number: document.getElementById("card-number").value.replace(/\s+/g, ""),
          exp_month: parseInt(document.getElementById("card-month").value, 10),
          exp_year: parseInt(document.getElementById("card-year").value, 10),
          cvc: document.getElementById("card-cvc").value
        })
      }).then(function (response) {
        return response.json().then(function (body) { return { ok: response.ok, body: body }; });
      }).then(function (result) {
        if (!result.ok) {
          error.textContent = result.body.code === "card_brand_not_supported"
            ? "We accept Visa, Mastercard, Maestro and American Express. Please use one of those."
            : "That card number, expiry date or security code isn't valid.";
          error.hidden = false;
          return;
        }
        ["card-number", "card-month", "card-year", "card-cvc"].forEach(function (id) {
          document.getElementById(id).value = "";
        });
        cardForm.elements.token.value = result.body.token;
        cardForm.submit();
      });
    });
  }
  document.querySelectorAll("form.select-services[data-premium-limit]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      var plan = form.querySelector("input[name=plan]:checked");
      var chosen = form.querySelectorAll("input[name=camera_ids]:checked").length;
      var message = form.querySelector("[data-limit-message]");
      if (plan && plan.value === "premium" && chosen > parseInt(form.dataset.premiumLimit, 10)) {
        event.preventDefault();
        message.hidden = false;
        message.focus();
      } else if (message) {
        message.hidden = true;
      }
    });
  });
})();
