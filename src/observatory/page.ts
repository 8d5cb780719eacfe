/**
 * The key holder's pages, server-rendered and self-contained (no admin bundle, no operator data):
 * the sign-in form and a dashboard shell whose script reads `/observatory/data` every 30 s.
 */
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const STYLE = `
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:0;background:#f6f7f9;color:#1a1b1e}
main{max-width:980px;margin:0 auto;padding:24px}
h1{font-size:20px;margin:0 0 16px}h2{font-size:15px;margin:24px 0 8px}
.card{background:#fff;border:1px solid #e3e5e8;border-radius:8px;padding:16px;margin-bottom:12px}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(140px,1fr));gap:12px}
.kpi b{display:block;font-size:20px}.kpi span{color:#5c5f66;font-size:12px}
table{width:100%;border-collapse:collapse;font-size:13px}td,th{text-align:left;padding:6px;border-bottom:1px solid #eee}
.error{color:#c92a2a;margin:8px 0}label{display:block;margin-bottom:6px}
input[type=password]{width:100%;padding:8px;font-family:monospace;box-sizing:border-box}
button,select{padding:6px 12px;margin-top:8px}.bar{fill:#228be6}.bar.cached{fill:#94d82d}.bar.fail{fill:#fa5252}
header{display:flex;justify-content:space-between;align-items:center}`;

function layout(title: string, body: string, nonce: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex"><title>${escapeHtml(title)}</title><style nonce="${nonce}">${STYLE}</style></head><body><main>${body}</main></body></html>`;
}

export function loginPage(nonce: string, csrfToken: string, error: string | null): string {
  return layout(
    'API Key Observatory — sign in',
    `<h1>API Key Observatory</h1><div class="card"><form method="post" action="/observatory/login">
<label for="api_key">Sign in with your Pool API key to see its usage.</label>
<input id="api_key" type="password" name="observatory[api_key]" autocomplete="off" required>
<input type="hidden" name="_csrf_token" value="${escapeHtml(csrfToken)}">
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}<button type="submit">Sign in</button></form></div>`,
    nonce,
  );
}

export function dashboardPage(nonce: string): string {
  return layout(
    'API Key Observatory',
    `<header><h1 id="title">API Key Observatory</h1><div>
<select id="window" aria-label="Window"><option value="1h">1 hour</option><option value="5h">5 hours</option><option value="24h" selected>24 hours</option><option value="7d">7 days</option></select>
<button id="logout" type="button">Sign out</button></div></header>
<div class="card kpis" id="kpis"></div>
<div class="card"><h2>Requests</h2><svg id="requests" width="100%" height="120" preserveAspectRatio="none"></svg>
<h2>Tokens (fresh input, cached input)</h2><svg id="tokens" width="100%" height="120" preserveAspectRatio="none"></svg></div>
<div class="card"><h2>Limits</h2><table id="limits"></table></div>
<div class="card"><h2>Models</h2><table id="models"></table></div>
<div class="card"><h2>Recent requests</h2><table id="recent"></table></div>
<script nonce="${nonce}">${DASHBOARD_SCRIPT}</script>`,
    nonce,
  );
}

// Plain DOM code: text goes through textContent, never innerHTML with data.
const DASHBOARD_SCRIPT = `
const $ = (id) => document.getElementById(id);
const fmt = (n) => n === null || n === undefined ? '–' : Number(n).toLocaleString();
const usd = (n) => '$' + Number(n).toFixed(n !== 0 && Math.abs(n) < 0.01 ? 6 : 2);
const pct = (n) => n === null ? '–' : (n * 100).toFixed(1) + '%';
function el(tag, text) { const e = document.createElement(tag); if (text !== undefined) e.textContent = String(text); return e; }
function table(id, head, rows) {
  const t = $(id); t.replaceChildren();
  const tr = el('tr'); head.forEach((h) => tr.appendChild(el('th', h))); t.appendChild(tr);
  if (rows.length === 0) { const r = el('tr'); const d = el('td', 'nothing yet'); d.colSpan = head.length; r.appendChild(d); t.appendChild(r); }
  rows.forEach((cells) => { const r = el('tr'); cells.forEach((c) => r.appendChild(el('td', c))); t.appendChild(r); });
}
function bars(id, series, parts) {
  const svg = $(id); svg.replaceChildren();
  const w = 1000, h = 120, n = series.length;
  svg.setAttribute('viewBox', '0 0 ' + w + ' ' + h);
  const max = Math.max(1, ...series.map((p) => parts.reduce((s, [k]) => s + p[k], 0)));
  series.forEach((p, i) => {
    let y = h;
    parts.forEach(([k, cls]) => {
      const bh = (p[k] / max) * (h - 4); y -= bh;
      const r = document.createElementNS('http://www.w3.org/2000/svg', 'rect');
      r.setAttribute('x', String(i * (w / n) + 1)); r.setAttribute('width', String(w / n - 2));
      r.setAttribute('y', String(y)); r.setAttribute('height', String(bh)); r.setAttribute('class', 'bar ' + cls);
      const title = document.createElementNS('http://www.w3.org/2000/svg', 'title'); title.textContent = p.start + ': ' + k + ' ' + p[k]; r.appendChild(title);
      svg.appendChild(r);
    });
  });
}
async function load() {
  const res = await fetch('/observatory/data?window=' + encodeURIComponent($('window').value), { credentials: 'same-origin', headers: { accept: 'application/json' } });
  if (res.status === 401) { location.assign('/observatory/login'); return; }
  if (!res.ok) return;
  const d = await res.json();
  $('title').textContent = 'API Key Observatory — ' + (d.key.label ? d.key.label + ' (' + d.key.prefix + ')' : d.key.prefix);
  const t = d.totals;
  const kpis = [['Requests', fmt(t.requests)], ['Success', pct(t.success_rate)], ['Cache hits', pct(t.cache_rate)], ['Cost', usd(t.cost_usd) + (t.priced ? '' : '*')],
    ['Tokens', fmt(t.total_tokens)], ['Avg latency', t.avg_latency_ms === null ? '–' : fmt(t.avg_latency_ms) + ' ms'], ['Throughput', t.tokens_per_second === null ? '–' : t.tokens_per_second + ' tok/s']];
  $('kpis').replaceChildren(...kpis.map(([k, v]) => { const div = el('div'); div.className = 'kpi'; div.appendChild(el('b', v)); div.appendChild(el('span', k)); return div; }));
  bars('requests', d.series, [['succeeded', ''], ['failed', 'fail']]);
  bars('tokens', d.series, [['fresh_input_tokens', ''], ['cached_input_tokens', 'cached']]);
  table('limits', ['Limit', 'Model', 'Used', 'Max', 'Remaining', 'Resets'], d.limits.map((l) => [l.field, l.model || 'all', fmt(l.used), fmt(l.max), fmt(l.remaining), l.resets_at ? new Date(l.resets_at).toLocaleString() : '–']));
  table('models', ['Model', 'Requests', 'Share', 'Tokens', 'Cost'], d.models.map((m) => [m.model || '–', fmt(m.requests), pct(m.share), fmt(m.total_tokens), usd(m.cost_usd)]));
  table('recent', ['Time', 'Model', 'Endpoint', 'Outcome', 'Latency', 'Tokens', 'Cost'], d.recent.map((r) => [new Date(r.at).toLocaleString(), r.model || '–', r.endpoint, r.status + (r.status_code ? ' (' + r.status_code + ')' : ''), r.latency_ms === null ? '–' : r.latency_ms + ' ms', fmt(r.total_tokens), usd(r.cost_usd)]));
}
$('window').addEventListener('change', () => void load());
$('logout').addEventListener('click', async () => { await fetch('/observatory/logout', { method: 'DELETE', credentials: 'same-origin', redirect: 'manual' }); location.assign('/observatory/login'); });
void load();
setInterval(() => void load(), 30000);
`;
