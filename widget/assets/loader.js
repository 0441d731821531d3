// Deskwoot chat widget loader. The embed snippet loads this small file
// (cached briefly), which loads the widget itself from a URL that carries
// its version (cached for a year): a new version reaches every site within
// minutes without anyone changing their snippet.
(function () {
  var me = document.currentScript;
  if (!me || window.__deskwootLoaded) return;
  window.__deskwootLoaded = true;
  var app = document.createElement('script');
  app.src = new URL('/widget/app/widget.{{VERSION}}.js', me.src).href;
  app.async = true;
  app.setAttribute('data-deskwoot-inbox', me.getAttribute('data-deskwoot-inbox') || '');
  (document.head || document.documentElement).appendChild(app);
})();
