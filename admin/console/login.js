// The console's login form: posts the token with the console's header
// (which a cross-site form cannot send) and goes to the console.
"use strict";
document.getElementById("login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const msg = document.getElementById("login-msg");
  msg.hidden = true;
  const body = new URLSearchParams({ token: document.getElementById("token").value });
  try {
    const r = await fetch("/login", {
      method: "POST", body, credentials: "same-origin",
      headers: { "X-Hookguard-Console": "1" },
    });
    if (r.status === 204) {
      location.replace("/");
      return;
    }
    const j = await r.json().catch(() => ({}));
    msg.textContent = j.error || ("login failed: " + r.status);
  } catch (e) {
    msg.textContent = "hookguard did not answer: " + e.message;
  }
  msg.hidden = false;
});
