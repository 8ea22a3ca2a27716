import { html, raw, type Html } from './html.js';

/**
 * The console's one stylesheet and one script, served by metalbox itself (no CDN: the
 * provisioning network often has no internet). The script only refreshes the live parts
 * of a page: it fetches the same page's fragment (HTML the server escaped) every two
 * seconds and swaps it in; every action is a plain form, so the pages work without it.
 */
export const STYLE = `
:root { color-scheme: light dark; --ok: #2e7d32; --bad: #c62828; --busy: #1565c0; --idle: #757575; --line: #8884; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, sans-serif; margin: 0; }
header { display: flex; gap: 1rem; align-items: center; padding: .6rem 1rem; border-bottom: 1px solid var(--line); flex-wrap: wrap; }
header a.brand { font-weight: 700; text-decoration: none; color: inherit; }
main { padding: 1rem; max-width: 1400px; }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible { outline: 3px solid #ff9800; outline-offset: 2px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th a { color: inherit; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.state { font-weight: 600; white-space: nowrap; }
.state.ok { color: var(--ok); } .state.bad { color: var(--bad); } .state.busy { color: var(--busy); } .state.idle { color: var(--idle); }
.bar { display: flex; height: 1.4rem; border-radius: 4px; overflow: hidden; margin: .5rem 0; background: var(--line); }
.bar span { display: block; min-width: 2px; }
.bar .ok { background: var(--ok); } .bar .bad { background: var(--bad); } .bar .busy { background: var(--busy); } .bar .idle { background: var(--idle); }
.legend { display: flex; gap: 1rem; flex-wrap: wrap; margin: 0; padding: 0; list-style: none; }
form.inline { display: inline; }
.filters { display: flex; gap: .5rem; flex-wrap: wrap; margin: .5rem 0 1rem; }
.actions { display: flex; gap: .5rem; flex-wrap: wrap; margin: .5rem 0 1rem; }
button, input, select { font: inherit; padding: .3rem .6rem; }
.flash { padding: .5rem 1rem; border-left: 4px solid var(--busy); margin-bottom: 1rem; }
.flash.bad { border-color: var(--bad); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
dl.facts dt { font-weight: 600; }
.timeline { display: flex; height: 2rem; margin: .5rem 0; border: 1px solid var(--line); border-radius: 4px; overflow: hidden; }
.timeline span { display: flex; align-items: center; justify-content: center; font-size: .8rem; color: #fff; white-space: nowrap; overflow: hidden; min-width: 3.5rem; }
.timeline span:nth-child(odd) { background: #1565c0; } .timeline span:nth-child(even) { background: #0d47a1; }
.verdict .ok { color: var(--ok); } .verdict .bad { color: var(--bad); }
.scroll { overflow-x: auto; }
@media (max-width: 700px) {
  .wide { display: none; }
  main { padding: .5rem; }
  dl.facts { grid-template-columns: 1fr; }
}
`;

export const SCRIPT = `
(() => {
  const live = document.querySelector('[data-live]');
  if (!live) return;
  const refresh = async () => {
    try {
      const response = await fetch(live.dataset.live + location.search, { headers: { accept: 'text/html' }, credentials: 'same-origin' });
      if (response.status === 401) { location.href = '/ui/login'; return; }
      if (response.ok) {
        const text = await response.text();
        if (text !== live.innerHTML) live.innerHTML = text;
      }
    } catch {}
    setTimeout(refresh, 2000);
  };
  setTimeout(refresh, 2000);
})();
`;

/** A whole page: the header with the fleet link and logout (with its CSRF token), then the body. */
export function page(title: string, body: Html, session: { csrf: string } | null): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · metalbox</title>
<link rel="stylesheet" href="/ui/app.css">
<script src="/ui/app.js" defer></script>
</head>
<body>
<header>
<a class="brand" href="/ui/">metalbox</a>
${
  session
    ? html`<nav><a href="/ui/">Fleet</a> · <a href="/ui/observations">Observations</a> · <a href="/ui/catalog">Profiles and types</a></nav>
<form class="inline" method="post" action="/ui/logout"><input type="hidden" name="csrf" value="${session.csrf}"><button>Log out</button></form>`
    : raw('')
}
</header>
<main>
${body}
</main>
</body>
</html>
`.text;
}
