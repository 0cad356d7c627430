// Cistern web UI: a hash-routed single page over the master's JSON API. No external code.
'use strict';

const $ = (sel) => document.querySelector(sel);

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

function bytes(n) {
  if (n === undefined || n === null) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  let v = Number(n);
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i === 0 ? v.toFixed(0) : v.toFixed(1)) + ' ' + units[i];
}

function pct(part, whole) { return whole > 0 ? (100 * part / whole) : 0; }
function pctText(v) { return v.toFixed(1) + '%'; }
function bar(v) { return `<div class="bar"><span style="width:${Math.min(100, Math.max(0, v)).toFixed(1)}%"></span></div>`; }
function time(ms) { return ms > 0 ? new Date(ms).toLocaleString() : '-'; }
function ago(ms, now) {
  if (!ms) return '-';
  const s = Math.max(0, ((now || Date.now()) - ms) / 1000);
  if (s < 60) return s.toFixed(1) + ' s ago';
  if (s < 3600) return (s / 60).toFixed(0) + ' min ago';
  return (s / 3600).toFixed(1) + ' h ago';
}
function mode(m) {
  let out = '';
  for (let i = 8; i >= 0; i--) out += (m >> i) & 1 ? 'rwx'[(8 - i) % 3] : '-';
  return out;
}
function pathLink(path, label) { return `<a href="#/browse?path=${encodeURIComponent(path)}">${esc(label || path)}</a>`; }
function fileLink(path, label) { return `<a href="#/file?path=${encodeURIComponent(path)}">${esc(label || path)}</a>`; }

// TOKEN mode: the API wants the superuser's token as a bearer header. The sign-in form keeps it
// in sessionStorage (this tab only, gone when it closes), never in the URL.
const TOKEN_KEY = 'cistern.token';
function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }

class AuthError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path) {
  const headers = token() ? { Authorization: `Bearer ${token()}` } : {};
  const response = await fetch(path, { cache: 'no-store', headers });
  const body = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (response.status === 401 || response.status === 403) throw new AuthError(response.status, body.error || `HTTP ${response.status}`);
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

function signInForm(e) {
  const why = e.status === 403 ? 'This token is not the superuser\'s.' : 'This cluster needs a token.';
  return `<h1>Sign in</h1><div class="error">${esc(why)} ${esc(e.message)}</div>` +
         '<form id="login"><label>Superuser token <input id="token" type="password" autocomplete="off" size="40"></label> ' +
         '<button type="submit">Sign in</button></form>' +
         '<p class="muted">The token stays in this tab (sessionStorage) and is sent as <code>Authorization: Bearer</code>.</p>';
}

function showAccount() {
  $('#account').innerHTML = token() ? '<a href="#" id="signout">Sign out</a>' : '';
  const out = $('#signout');
  if (out) out.addEventListener('click', (ev) => { ev.preventDefault(); sessionStorage.removeItem(TOKEN_KEY); route(); });
}

function card(label, value, extra) {
  return `<div class="card"><div class="label">${esc(label)}</div><div class="value">${value}</div>${extra || ''}</div>`;
}

async function overview() {
  const o = await api('/api/v1/overview');
  let html = '<h1>Overview</h1><div class="cards">';
  html += card('Leader', esc(o.leader));
  html += card('Masters', o.masters.length);
  html += card('Live workers', o.workers.live, o.workers.lost ? `<div class="state-LOST">${o.workers.lost} lost</div>` : '');
  html += card('Cache capacity', bytes(o.capacity_bytes));
  html += card('Cache used', bytes(o.used_bytes), bar(pct(o.used_bytes, o.capacity_bytes)));
  html += card('Cache hit ratio', pctText(100 * o.cache_hit_ratio),
               `<div class="muted">${bytes(o.cache_read_bytes)} from cache, ${bytes(o.ufs_read_bytes)} from under-stores</div>`);
  html += card('Inodes', o.inode_count);
  html += card('Applied index', o.applied_index);
  html += '</div>';
  html += '<h2>Masters</h2><table><tr><th>Address</th><th>Role</th></tr>';
  for (const m of o.masters) html += `<tr><td>${esc(m.address)}</td><td>${m.leader ? 'leader' : 'standby'}</td></tr>`;
  html += '</table>';
  html += '<h2>Capacity by tier</h2><table><tr><th>Tier</th><th class="num">Capacity</th><th class="num">Used</th><th>Usage</th></tr>';
  for (const t of o.tiers) {
    html += `<tr><td>${esc(t.alias)}</td><td class="num">${bytes(t.capacity_bytes)}</td><td class="num">${bytes(t.used_bytes)}</td>` +
            `<td>${pctText(pct(t.used_bytes, t.capacity_bytes))}${bar(pct(t.used_bytes, t.capacity_bytes))}</td></tr>`;
  }
  html += '</table>';
  html += `<p class="muted">Version ${esc(o.version)}, cluster ${esc(o.cluster_id)}, master up since ${time(o.start_time_ms)}.</p>`;
  return html;
}

async function workers() {
  const { workers } = await api('/api/v1/workers');
  const now = Date.now();
  let html = `<h1>Workers (${workers.length})</h1><table><tr><th>Id</th><th>Address</th><th>State</th><th>Last heartbeat</th>` +
             '<th class="num">Blocks</th><th class="num">Hit ratio</th><th>Tiers</th></tr>';
  for (const w of workers) {
    let tiers = '';
    for (const t of w.tiers) {
      tiers += `<div><b>${esc(t.alias)}</b> ${bytes(t.used_bytes)} / ${bytes(t.capacity_bytes)} ` +
               `(${pctText(pct(t.used_bytes, t.capacity_bytes))})${bar(pct(t.used_bytes, t.capacity_bytes))}</div>`;
    }
    const http = w.address.http_port ? ` <a class="muted" href="http://${esc(w.address.host)}:${w.address.http_port}/metrics">metrics</a>` : '';
    html += `<tr><td>${w.id}</td><td>${esc(w.address.host)}:${w.address.rpc_port}${http}</td>` +
            `<td class="state-${w.state}">${w.state}</td><td>${ago(w.last_heartbeat_ms, now)}</td>` +
            `<td class="num">${w.block_count}</td><td class="num">${pctText(100 * w.cache_hit_ratio)}</td><td>${tiers}</td></tr>`;
  }
  return html + '</table>';
}

function crumbs(path) {
  const parts = path.split('/').filter((p) => p.length);
  let html = '<div class="crumbs">' + pathLink('/', '/');
  let cur = '';
  for (const p of parts) { cur += '/' + p; html += ' / ' + pathLink(cur, p); }
  return html + '</div>';
}

async function browse(params) {
  const path = params.get('path') || '/';
  const data = await api('/api/v1/files?path=' + encodeURIComponent(path));
  if (!data.status.directory) return file(params);
  let html = `<h1>Namespace</h1>${crumbs(data.status.path)}<p class="muted">Mount: ${esc(data.status.mount_point)} → ` +
             `<code>${esc(data.status.ufs_path)}</code></p>`;
  html += '<table><tr><th>Name</th><th class="num">Size</th><th class="num">In cache</th><th>Persistence</th>' +
          '<th>Mode</th><th>Owner</th><th>Modified</th></tr>';
  for (const c of data.children) {
    const name = c.directory ? pathLink(c.path, c.name + '/') : fileLink(c.path, c.name);
    const cached = c.directory ? '-' : `${bytes(c.cached_bytes)} (${pctText(pct(c.cached_bytes, c.length || 1) || (c.length ? 0 : 100))})`;
    html += `<tr><td>${name}</td><td class="num">${c.directory ? '-' : bytes(c.length)}</td><td class="num">${cached}</td>` +
            `<td>${esc(c.persistence_state)}</td><td><code>${mode(c.mode)}</code></td><td>${esc(c.owner)}:${esc(c.group)}</td>` +
            `<td>${time(c.modification_time_ms)}</td></tr>`;
  }
  html += '</table>';
  if (data.children.length === 0) html += '<p class="muted">Empty directory.</p>';
  if (data.truncated) html += `<p class="muted">Showing the first ${data.limit} entries.</p>`;
  return html;
}

async function file(params) {
  const path = params.get('path') || '/';
  const { status: s } = await api('/api/v1/file?path=' + encodeURIComponent(path));
  if (s.directory) return browse(params);
  let html = `<h1>${esc(s.name)}</h1>${crumbs(s.path)}<h2>Details</h2><dl class="details">`;
  const row = (k, v) => { html += `<dt>${esc(k)}</dt><dd>${v}</dd>`; };
  row('Path', esc(s.path));
  row('Size', `${bytes(s.length)} (${s.length} bytes)`);
  row('In cache', `${bytes(s.cached_bytes)} (${s.in_cache_percentage}%)${bar(s.in_cache_percentage)}`);
  row('Block size', bytes(s.block_size_bytes));
  row('Persistence', esc(s.persistence_state));
  row('Under-store', `<code>${esc(s.ufs_path)}</code>`);
  row('Mount point', esc(s.mount_point));
  row('Owner', `${esc(s.owner)}:${esc(s.group)} <code>${mode(s.mode)}</code>`);
  row('Created', time(s.creation_time_ms));
  row('Modified', time(s.modification_time_ms));
  row('Pinned', s.pinned ? 'yes' : 'no');
  row('Completed', s.completed ? 'yes' : 'no');
  html += '</dl><h2>Blocks</h2><table><tr><th>#</th><th>Block id</th><th class="num">Offset</th><th class="num">Length</th><th>Locations</th></tr>';
  (s.blocks || []).forEach((b, i) => {
    const loc = b.locations.length
      ? b.locations.map((l) => `worker ${l.worker_id} ${esc(l.address.host)}:${l.address.rpc_port} (${esc(l.tier)})`).join('<br>')
      : '<span class="muted">not cached</span>';
    html += `<tr><td>${i}</td><td><code>${b.id}</code></td><td class="num">${b.offset}</td><td class="num">${bytes(b.length)}</td><td>${loc}</td></tr>`;
  });
  return html + '</table>';
}

async function mounts() {
  const data = await api('/api/v1/mounts');
  let html = '<h1>Mounts</h1><table><tr><th>Path</th><th>Under-store</th><th>Flags</th><th class="num">Files</th>' +
             '<th class="num">Size</th><th class="num">Cached</th><th>Cached %</th></tr>';
  for (const m of data.mounts) {
    const flags = [m.read_only ? 'read-only' : 'read-write', m.shared ? 'shared' : ''].filter(Boolean).join(', ');
    const u = m.usage;
    const usage = u
      ? `<td class="num">${u.files}</td><td class="num">${bytes(u.bytes)}</td><td class="num">${bytes(u.cached_bytes)}</td>` +
        `<td>${pctText(u.cached_percentage)}${bar(u.cached_percentage)}</td>`
      : '<td colspan="4" class="muted">not scanned yet</td>';
    html += `<tr><td>${pathLink(m.path)}</td><td><code>${esc(m.ufs_uri)}</code></td><td>${flags}</td>${usage}</tr>`;
  }
  html += '</table>';
  if (data.scan) {
    html += `<p class="muted">Cache usage from the background scan that ended ${ago(data.scan.finished_ms)} ` +
            `(${data.scan.inodes_scanned} inodes in ${data.scan.duration_ms} ms).</p>`;
  }
  return html;
}

async function config() {
  const { keys } = await api('/api/v1/config');
  let html = '<h1>Configuration in effect</h1><table><tr><th>Key</th><th>Value</th><th>Origin</th><th>Meaning</th></tr>';
  for (const k of keys) {
    const changed = k.origin && k.origin !== 'default';
    html += `<tr><td><code>${esc(k.key)}</code></td><td>${changed ? '<b>' : ''}<code>${esc(k.value)}</code>${changed ? '</b>' : ''}</td>` +
            `<td>${esc(k.origin || '')}</td><td class="muted">${esc(k.description || '')}</td></tr>`;
  }
  return html + '</table>';
}

const pages = { overview, workers, browse, file, mounts, config };

async function route() {
  const hash = location.hash.replace(/^#\/?/, '') || 'overview';
  const [name, query] = hash.split('?');
  const page = pages[name] || overview;
  document.querySelectorAll('header nav a').forEach((a) => {
    a.classList.toggle('active', a.dataset.page === (name === 'file' ? 'browse' : name));
  });
  try {
    $('#content').innerHTML = await page(new URLSearchParams(query || ''));
    loadMaster();
  } catch (e) {
    if (e instanceof AuthError) {
      $('#content').innerHTML = signInForm(e);
      $('#login').addEventListener('submit', (ev) => {
        ev.preventDefault();
        sessionStorage.setItem(TOKEN_KEY, $('#token').value.trim());
        route();
      });
    } else {
      $('#content').innerHTML = `<div class="error">${esc(e.message)}</div>`;
    }
  }
  showAccount();
  document.body.dataset.loaded = name;
}

window.addEventListener('hashchange', route);
function loadMaster() {
  if ($('#master').textContent) return;
  api('/api/v1/overview').then((o) => { $('#master').textContent = `master ${o.address} · v${o.version}`; }).catch(() => {});
}
route();
