// A little plain JavaScript: the card goes only to the tokenizer; Premium's 10-camera limit
// is shown in the form before the server says so; sign-up sends the browser's time zone; the
// activity center's players fetch a fresh signed URL when theirs has run out.
(function () {
  var zoneField = document.querySelector("input[data-browser-zone]");
  if (zoneField && window.Intl) {
    zoneField.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  }
  document.querySelectorAll("video[data-urls]").forEach(player);
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

  // A signed URL lives 300 s (V7) and the page may stay open for hours: before playing with a
  // URL that has run out, and on any load error, ask for a fresh one and go on from the same
  // place. A refusal is said in words; the player never just turns grey.
  function player(video) {
    var ttl = (parseInt(video.dataset.ttl, 10) || 300) * 1000;
    var issued = performance.now();
    var busy = false;
    var failures = 0;
    var message = video.parentNode.querySelector("[data-player-error]");

    function fail(text) {
      video.removeAttribute("src");
      video.hidden = true;
      message.textContent = text;
      message.hidden = false;
    }

    function refresh(resume) {
      if (busy) { return; }
      busy = true;
      var at = video.currentTime;
      fetch(video.dataset.urls, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          return response.json().then(function (body) { return { status: response.status, body: body }; });
        })
        .then(function (result) {
          busy = false;
          if (result.status !== 200) {
            fail(result.status === 410 ? "No longer available."
              : result.status === 401 ? "You were signed out. Sign in again to play this clip."
              : "This clip can't be played right now. Please try again later.");
            return;
          }
          issued = performance.now();
          video.addEventListener("loadedmetadata", function resumeHere() {
            video.removeEventListener("loadedmetadata", resumeHere);
            if (at) { video.currentTime = at; }
            if (resume) { video.play().catch(function () {}); }
          });
          video.src = result.body.playback_url;
          video.load();
        })
        .catch(function () {
          busy = false;
          fail("We couldn't reach Kasa Care. Check your connection and reload the page.");
        });
    }

    video.addEventListener("play", function () {
      if (performance.now() - issued > ttl - 15000) {
        video.pause();
        refresh(true);
      }
    });
    video.addEventListener("playing", function () { failures = 0; });
    video.addEventListener("error", function () {
      failures += 1;
      if (failures > 2) {
        fail("This clip can't be played right now. Please try again later.");
        return;
      }
      refresh(true);  // a load fails only when the owner plays or seeks
    });
  }
})();
