/* feeds embed: renders a feed's headlines into an element of the page that includes it.
 *
 *   <div id="news"></div>
 *   <script src="https://news.example.org/embed.js" data-feed="topics/ai"
 *           data-target="news" data-limit="5" async></script>
 *
 * Reads the CORS-enabled JSON Feed next to this script and builds DOM nodes
 * with text only: record data never goes through innerHTML.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) { return; }
  var base = new URL(".", script.src);
  var feed = (script.getAttribute("data-feed") || "feed").replace(/[^A-Za-z0-9._\/-]/g, "");
  var limit = Math.max(1, Math.min(50, parseInt(script.getAttribute("data-limit") || "10", 10) || 10));
  var target = document.getElementById(script.getAttribute("data-target") || "");
  if (!target) {
    target = document.createElement("div");
    script.parentNode.insertBefore(target, script);
  }

  function safeUrl(value) {
    try {
      var url = new URL(value);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  // The date as the pages and the iframe show it ("09 Nov 2020", feeds.pages.day): the day in UTC,
  // in English, never in the reader's zone or locale, so that a headline has one date everywhere.
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  function day(value) {
    var moment = new Date(value);
    if (isNaN(moment.getTime())) { return null; }
    var date = moment.getUTCDate();
    return (date < 10 ? "0" : "") + date + " " + MONTHS[moment.getUTCMonth()] + " " + moment.getUTCFullYear();
  }

  function item(entry) {
    var li = document.createElement("li");
    var href = safeUrl(entry.url);
    var title = document.createElement(href ? "a" : "span");
    title.textContent = entry.title || "";
    if (href) {
      title.href = href;
      title.target = "_blank";
      title.rel = "noopener noreferrer";
    }
    li.appendChild(title);
    // " Provider · <time>": the iframe's line (embed.html), built from text nodes.
    var author = entry.authors && entry.authors[0] && entry.authors[0].name;
    var shown = entry.date_published ? day(entry.date_published) : null;
    if (author || shown) {
      var span = document.createElement("span");
      span.className = "feeds-embed-meta";
      span.textContent = " " + (author || "") + (author && shown ? " · " : "");
      if (shown) {
        var time = document.createElement("time");
        time.dateTime = entry.date_published;
        time.textContent = shown;
        span.appendChild(time);
      }
      li.appendChild(span);
    }
    return li;
  }

  fetch(new URL(feed + ".json", base).href, { credentials: "omit" })
    .then(function (response) {
      if (!response.ok) { throw new Error("feed answered " + response.status); }
      return response.json();
    })
    .then(function (doc) {
      var list = document.createElement("ul");
      list.className = "feeds-embed";
      (doc.items || []).slice(0, limit).forEach(function (entry) { list.appendChild(item(entry)); });
      target.replaceChildren(list);
    })
    .catch(function () {
      var note = document.createElement("p");
      note.textContent = "Headlines are not available right now.";
      target.replaceChildren(note);
    });
})();
