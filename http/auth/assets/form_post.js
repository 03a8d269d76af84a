// Submits the form_post response (OAuth 2.0 Form Post Response Mode) as
// soon as the page loads; without JavaScript the user presses Continue.
document.getElementById("form_post").submit();
