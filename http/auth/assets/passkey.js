// Passkey ceremonies for the sign-in and account pages. The server keeps
// the challenges; this script only carries options and responses between
// it and the browser's WebAuthn API.
(function () {
  "use strict";

  // Messages come translated from the page (data- attributes of el),
  // English when missing.
  function text(el, name, fallback) {
    return (el && el.getAttribute("data-" + name)) || fallback;
  }

  async function call(url, csrf, body, msgs) {
    const init = { method: "POST", headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const res = await fetch(url, init);
    let data = {};
    try { data = await res.json(); } catch (e) { /* empty body */ }
    if (!res.ok) {
      const err = new Error(data.error_description || text(msgs, "refused", "The server refused the request."));
      err.code = data.error;
      throw err;
    }
    return data;
  }

  // Sign-in page: usernameless sign-in, by button and by autofill
  // (conditional mediation) where the browser offers it.
  const loginButton = document.getElementById("passkey-login");
  if (loginButton) {
    const form = document.getElementById("passkey-continue");
    const rid = form.elements.rid.value;
    const errorText = document.getElementById("passkey-error");
    const q = "?rid=" + encodeURIComponent(rid);
    let pending = null;

    async function signIn(mediation) {
      const csrf = form.elements.csrf.value;
      const options = await call("/webauthn/login/begin" + q, csrf, undefined, errorText);
      const request = { publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options.publicKey) };
      if (mediation) {
        pending = new AbortController();
        request.mediation = mediation;
        request.signal = pending.signal;
      }
      const credential = await navigator.credentials.get(request);
      const done = await call("/webauthn/login/finish" + q, csrf, credential.toJSON(), errorText);
      form.elements.csrf.value = done.csrf;
      form.submit();
    }

    loginButton.addEventListener("click", function () {
      if (pending) { pending.abort(); pending = null; }
      errorText.textContent = "";
      signIn(null).catch(function (e) { errorText.textContent = e.message || text(errorText, "failed", "Passkey sign-in failed."); });
    });

    if (window.PublicKeyCredential && PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (ok) {
        if (ok) { signIn("conditional").catch(function () { /* the user did not pick one */ }); }
      });
    }
  }

  // Account page: add a passkey.
  const registerButton = document.getElementById("passkey-register");
  if (registerButton) {
    const status = document.getElementById("passkey-status");
    registerButton.addEventListener("click", async function () {
      status.textContent = "";
      try {
        const csrf = document.getElementById("csrf").value;
        const options = await call("/webauthn/register/begin", csrf, undefined, status);
        const credential = await navigator.credentials.create({
          publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options.publicKey),
        });
        const name = document.getElementById("passkey-name").value;
        await call("/webauthn/register/finish?name=" + encodeURIComponent(name), csrf, credential.toJSON(), status);
        status.textContent = text(status, "added", "Passkey added.");
        window.location.reload();
      } catch (e) {
        if (e.code === "login_required") {
          // The last sign-in is too old for this: sign in again, then
          // the server brings the user back here.
          document.getElementById("reauth").submit();
          return;
        }
        status.textContent = e.message || text(status, "failed", "Could not add the passkey.");
      }
    });
  }
})();
