// Front-channel logout (OpenID Connect Front-Channel Logout 1.0 §4): the
// logout page holds one frame per application the user signed into. Once
// every frame has loaded, or the page's time limit has passed (a frame
// that never answers must not keep the user), it continues to the
// application (the Continue link) or says it is done. Without JavaScript
// the frames load all the same and the user follows the link.
//
// The script runs before the frames are parsed and listens for their
// load events on the document (capture), so none is missed however fast
// a frame loads.
(function () {
  "use strict";
  var loaded = new Set();
  var finished = false;

  function finish() {
    if (finished) {
      return;
    }
    finished = true;
    var status = document.getElementById("frontchannel-status");
    var next = document.getElementById("continue");
    // The page carries the messages in its language.
    var box = document.getElementById("frontchannel");
    if (next) {
      status.textContent = box.getAttribute("data-done-next");
      window.location.assign(next.href);
    } else {
      status.textContent = box.getAttribute("data-done");
    }
  }

  function check() {
    if (finished || document.readyState === "loading") {
      return;
    }
    var frames = document.querySelectorAll("iframe.frontchannel");
    for (var i = 0; i < frames.length; i++) {
      if (!loaded.has(frames[i])) {
        return;
      }
    }
    finish();
  }

  document.addEventListener("load", function (ev) {
    var t = ev.target;
    if (t && t.tagName === "IFRAME" && t.classList.contains("frontchannel")) {
      loaded.add(t);
      check();
    }
  }, true);

  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("frontchannel");
    var ms = parseInt(box && box.getAttribute("data-timeout-ms"), 10);
    window.setTimeout(finish, ms > 0 ? ms : 5000);
    check();
  });
})();
