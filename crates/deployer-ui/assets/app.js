// k8s-app-deployer web UI: plain JavaScript over the JSON API (openapi/openapi.json).
// Every action is an API request; the API decides what the signed-in token may do and says so
// up front (`GET /api/v1/whoami`, and each application's `actions` in `GET /api/v1/clusters`),
// so the page offers only what the API would accept. The page builds DOM nodes (never HTML
// text), so nothing from the API is ever parsed as markup.
'use strict';

const state = {
  csrf: null,
  // The API's `whoami` answer for the session's token: name, scopes, actions allowed everywhere.
  me: null,
  // What the API says the token may do per target, "region/cluster/file" → ['read', 'deploy', …].
  actions: new Map(),
  // Actions the API refused (403) for a target anyway, as "action region/cluster/file".
  denied: new Set(),
  stream: null,
};

const TERMINAL = ['succeeded', 'failed', 'unchanged'];
const PHASES = ['queued', 'committing', 'committed', 'applying', 'applied', 'rolling_out', 'finished'];

// ---------- small DOM helpers ----------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'text') node.textContent = value;
    else if (key === 'on') for (const [ev, fn] of Object.entries(value)) node.addEventListener(ev, fn);
    else if (value === true) node.setAttribute(key, '');
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// A state written as a word (colour only repeats it), e.g. `succeeded`, `not configured`.
function statusWord(word, prefix) {
  const slug = String(word).replace(/[^a-z0-9]+/gi, '-');
  return el('span', { class: `status status-${slug}`, 'data-status': word }, prefix ? `${prefix}${word}` : word);
}

// Replaces `node`'s children, skipping absent ones (null, undefined, false).
function put(node, ...children) {
  node.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}

function flash(message, isError) {
  const box = document.getElementById('flash');
  box.replaceChildren(el('p', { class: isError ? 'error' : null }, message));
}

function clearFlash() {
  document.getElementById('flash').replaceChildren();
}

// A table whose cells also carry their column's name (`data-label`), which narrow screens show
// in front of each value when rows are stacked as cards.
function table(caption, headings, rows) {
  for (const row of rows) {
    [...row.children].forEach((cell, i) => { if (headings[i]) cell.setAttribute('data-label', headings[i]); });
  }
  return el('div', { class: 'table-wrap' },
    el('table', {},
      el('caption', {}, caption),
      el('thead', {}, el('tr', {}, headings.map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, rows)));
}

function key(t) {
  return `${t.region}/${t.cluster}/${t.file}`;
}

// Whether the API said the token may take `action` on `target` (and has not refused it since).
function allowed(action, target) {
  const actions = state.actions.get(key(target)) || [];
  return actions.includes(action) && !state.denied.has(`${action} ${key(target)}`);
}

function everywhere(action) {
  return Boolean(state.me && state.me.everywhere.includes(action));
}

// Remembers what the API says the token may do on each application of a cluster listing.
function learnActions(clusters) {
  for (const c of clusters) {
    for (const app of c.apps) state.actions.set(key({ region: c.region, cluster: c.cluster, file: app.file }), app.actions || []);
  }
}

// Asks the API what the token may do on one target, when no listing said so yet.
async function actionsOn(t) {
  if (state.actions.has(key(t))) return;
  const q = new URLSearchParams({ region: t.region, cluster: t.cluster, file: t.file });
  const answer = await api('GET', `/api/v1/whoami?${q}`);
  if (answer.status === 200 && answer.body.target) state.actions.set(key(t), answer.body.target.actions);
}

function tagOf(image) {
  if (!image) return '';
  const at = image.indexOf('@');
  if (at >= 0) {
    const named = tagOf(image.slice(0, at));
    return named || image.slice(at + 1, at + 20);
  }
  const slash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  return colon > slash ? image.slice(colon + 1) : '';
}

function tags(images) {
  return [...new Set((images || []).map(tagOf).filter(Boolean))].join(', ') || '—';
}

function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return el('time', { datetime: iso, title: d.toLocaleString() }, ago(d));
}

function ago(date) {
  const s = Math.round((Date.now() - date.getTime()) / 1000);
  if (s < 60) return `${Math.max(s, 0)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return date.toLocaleDateString();
}

function duration(record) {
  if (!record.finished_at) return '—';
  const ms = new Date(record.finished_at) - new Date(record.created_at);
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 120 ? `${s} s` : `${Math.round(s / 60)} min`;
}

// A link to a page outside the deployer (a commit, a CI build): only http(s) addresses, opened
// like any other link. Its accessible name is `label`, which contains the visible text.
function outsideLink(href, label, attrs, ...children) {
  if (!href || !/^https?:\/\//i.test(href)) return null;
  return el('a', { ...attrs, href, rel: 'noreferrer', 'aria-label': label }, ...children);
}

// The configuration-repository commit of a deployment, shortened: a link to its page when the
// API gives one (`commit_url`), plain text otherwise.
function commitRef(d) {
  const short = d.commit_sha.slice(0, 12);
  return outsideLink(d.commit_url, `Commit ${short} in the configuration repository`,
    { class: 'commit-link', title: d.commit_sha }, el('code', {}, short))
    || el('code', { title: d.commit_sha }, short);
}

// The CI build of a deployment's source: a link to it when it has an http(s) address.
function buildRef(source) {
  const name = source.ci || 'build';
  return outsideLink(source.build_url, `CI build on ${source.ci || 'the CI system'}`, { class: 'build-link' }, name)
    || (source.ci || '—');
}

function targetPath(t) {
  return `${encodeURIComponent(t.region)}/${encodeURIComponent(t.cluster)}/${encodeURIComponent(t.file)}`;
}

// ---------- the API ----------

async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET') headers['X-CSRF-Token'] = state.csrf || '';
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method, headers, credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    return { status: 0, body: { error: { code: 'unreachable', message: 'the deployer cannot be reached' } } };
  }
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  if (response.status === 401 && path.startsWith('/api/')) showSignin('The session has ended; sign in again.');
  return { status: response.status, body: data };
}

function problem(answer) {
  const e = answer.body && answer.body.error;
  if (!e) return `the deployer answered ${answer.status}`;
  return e.hint ? `${e.message} (${e.code}). ${e.hint}` : `${e.message} (${e.code})`;
}

// Records a 403 for an action on a target and says so; the page then hides that action.
function refused(answer, action, target) {
  if (answer.status === 403 && target) {
    state.denied.add(`${action} ${key(target)}`);
    flash(`This token may not ${action} ${key(target)}: ${problem(answer)}`, true);
    return true;
  }
  return false;
}

// ---------- sign-in ----------

function showSignin(message) {
  state.csrf = null;
  state.me = null;
  closeStream();
  document.getElementById('nav').hidden = true;
  document.getElementById('view').hidden = true;
  document.getElementById('signin').hidden = false;
  document.getElementById('signin-error').textContent = message || '';
}

async function signedIn(session) {
  state.csrf = session.csrf_token;
  state.denied.clear();
  state.actions.clear();
  const me = await api('GET', '/api/v1/whoami');
  if (me.status !== 200) {
    showSignin(`The deployer cannot say what this token may do: ${problem(me)}`);
    return;
  }
  state.me = me.body;
  document.getElementById('signin').hidden = true;
  document.getElementById('nav').hidden = false;
  document.getElementById('view').hidden = false;
  const who = document.getElementById('whoami');
  who.textContent = `Signed in as ${state.me.name}`;
  who.title = `Scopes: ${state.me.scopes.join(' ') || '(none)'}`;
  // Received triggers need `read:*`; dead events `admin:*`.
  document.getElementById('nav-triggers').hidden = !everywhere('read');
  document.getElementById('nav-events').hidden = !everywhere('admin');
  route();
}

async function signIn(event) {
  event.preventDefault();
  const input = document.getElementById('token');
  const button = event.target.querySelector('button');
  button.disabled = true;
  try {
    const response = await fetch('/ui/login', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { Accept: 'application/json', 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: input.value }).toString(),
    });
    const body = await response.json().catch(() => null);
    if (response.ok && body) {
      input.value = '';
      await signedIn(body);
    } else {
      document.getElementById('signin-error').textContent =
        body && body.error ? `Sign-in failed: ${body.error.message}.` : 'Sign-in failed.';
      input.focus();
    }
  } finally {
    button.disabled = false;
  }
}

async function signOut() {
  await fetch('/ui/logout', {
    method: 'POST', credentials: 'same-origin',
    headers: { Accept: 'application/json', 'X-CSRF-Token': state.csrf || '' },
  });
  clearFlash();
  showSignin('Signed out.');
}

// ---------- routing ----------

function closeStream() {
  if (state.stream) { state.stream.close(); state.stream = null; }
}

function parseRoute() {
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path, query] = hash.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(query || '') };
}

function setView(title, ...content) {
  const view = document.getElementById('view');
  const heading = el('h1', { id: 'page-title', tabindex: '-1' }, title);
  put(view, heading, content);
  document.title = `${title} · k8s-app-deployer`;
  return heading;
}

function markNav(name) {
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function route() {
  if (!state.csrf) return;
  closeStream();
  const { parts, params } = parseRoute();
  const [page, ...rest] = parts;
  let heading;
  if (!page) heading = await overview();
  else if (page === 'app' && rest.length === 3) heading = await appPage(target(rest));
  else if (page === 'deploy' && rest.length === 3) heading = await deployPage(target(rest), params);
  else if (page === 'deployment' && rest.length === 1) heading = await deploymentPage(rest[0]);
  else if (page === 'triggers') heading = await triggersPage();
  else if (page === 'events') heading = await eventsPage();
  else heading = setView('Not found', el('p', {}, 'No such page. ', el('a', { href: '#/' }, 'Back to the overview.')));
  markNav(['triggers', 'events'].includes(page) ? page : page ? '' : 'overview');
  if (heading && document.activeElement === document.body) heading.focus();
}

function target(parts) {
  return { region: parts[0], cluster: parts[1], file: parts[2] };
}

function onNavigate() {
  clearFlash();
  route().then(() => {
    const heading = document.getElementById('page-title');
    if (heading) heading.focus();
  });
}

// ---------- pages ----------

// The live state of an application's workloads, as the API reports it: the state as a word,
// then ready/updated/desired replicas of each workload that answered.
function liveCell(live) {
  if (!live) return '—';
  const counts = (live.workloads || []).map((w) =>
    el('span', { class: 'counts' }, (live.workloads.length > 1 ? `${w.name}: ` : ''),
      `${w.ready}/${w.desired} ready, ${w.updated}/${w.desired} updated`));
  // Until every replica is updated and ready, kubectl's words say what is still going on.
  return el('span', { class: 'live', title: live.message },
    statusWord(live.state.replace('_', ' ')), counts.length ? ' ' : '', counts,
    live.state !== 'ready' && live.message ? el('span', { class: 'note' }, live.message) : null);
}

function lastDeploymentCell(d) {
  if (!d) return 'none yet';
  return el('span', {}, statusWord(d.status), ' ',
    el('code', {}, `${tags(d.old_images)} → ${tags(d.new_images)}`), ' by ', d.request.requested_by, ', ',
    when(d.created_at), ' ', el('a', { href: `#/deployment/${d.id}`, 'aria-label': `Deployment ${d.id}` }, 'details'));
}

const SHOW = {
  all: () => true,
  attention: (row) => row.dataset.live !== 'ready' || row.dataset.last === 'failed',
  pinned: (row) => row.dataset.pinned === 'true',
  failed: (row) => row.dataset.last === 'failed',
};

// Overview: regions → clusters → apps, with the repository's tag, what runs in the cluster, the
// last deployment and any pin.
async function overview() {
  const clusters = await api('GET', '/api/v1/clusters');
  if (clusters.status !== 200) return setView('Overview', el('p', { class: 'error' }, `Clusters: ${problem(clusters)}`));
  learnActions(clusters.body.clusters);
  const filter = el('input', { id: 'filter', type: 'search', placeholder: 'app, cluster, tag, person…', autocomplete: 'off' });
  const show = el('select', { id: 'show' },
    el('option', { value: 'all' }, 'every application'),
    el('option', { value: 'attention' }, 'not ready, or last deployment failed'),
    el('option', { value: 'failed' }, 'last deployment failed'),
    el('option', { value: 'pinned' }, 'pinned'));
  const regions = new Map();
  for (const c of clusters.body.clusters) {
    if (!regions.has(c.region)) regions.set(c.region, []);
    regions.get(c.region).push(c);
  }
  const sections = [];
  for (const [region, list] of regions) {
    const clusterBlocks = list.map((c) => {
      const rows = c.apps.map((app) => overviewRow(c, app));
      const reach = !c.configured ? 'not configured' : c.reachable ? 'reachable' : 'unreachable';
      return el('section', { class: 'cluster', 'aria-label': `${c.region}/${c.cluster}` },
        el('h3', {}, `${c.cluster} `, statusWord(reach), c.environment ? el('span', { class: 'muted' }, ` · ${c.environment}`) : null),
        rows.length ? table(`Applications on ${c.region}/${c.cluster}`,
          ['Application', 'Image tag (repository)', 'Live in the cluster', 'Last deployment', 'Pin', 'Actions'], rows)
          : el('p', { class: 'muted' }, 'No application files.'));
    });
    sections.push(el('section', { class: 'region', 'aria-label': `Region ${region}` }, el('h2', {}, `Region ${region}`), clusterBlocks));
  }
  const count = el('p', { id: 'filter-count', class: 'muted', 'aria-live': 'polite' });
  const applyFilter = () => {
    const words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    const keep = SHOW[show.value] || SHOW.all;
    let shown = 0;
    const rows = document.querySelectorAll('tr[data-search]');
    for (const row of rows) {
      row.hidden = !(keep(row) && words.every((w) => row.dataset.search.includes(w)));
      if (!row.hidden) shown += 1;
    }
    count.textContent = shown === rows.length ? `${rows.length} applications` : `${shown} of ${rows.length} applications shown`;
  };
  for (const ev of ['input', 'change', 'search']) filter.addEventListener(ev, applyFilter);
  show.addEventListener('change', applyFilter);
  const heading = setView('Overview',
    el('div', { class: 'filters' },
      el('div', {}, el('label', { for: 'filter' }, 'Search applications'), filter),
      el('div', {}, el('label', { for: 'show' }, 'Show'), show)),
    count, sections);
  applyFilter();
  return heading;
}

function overviewRow(cluster, app) {
  const t = { region: cluster.region, cluster: cluster.cluster, file: app.file };
  const last = app.last_deployment;
  const tag = app.error ? el('span', { class: 'error' }, `unreadable: ${app.error.message}`) : el('code', {}, tags(app.images));
  const pin = app.pin ? el('span', { class: 'pin' }, `pinned by ${app.pin.pinned_by}`) : 'not pinned';
  const actions = el('span', { class: 'actions' },
    el('a', { href: `#/app/${targetPath(t)}`, 'aria-label': `History of ${key(t)}` }, 'History'),
    allowed('deploy', t) ? el('a', { href: `#/deploy/${targetPath(t)}`, class: 'deploy-link', 'aria-label': `Deploy ${key(t)}` }, 'Deploy') : null);
  const live = app.live ? app.live.state : 'unknown';
  const search = [cluster.region, cluster.cluster, cluster.environment || '', app.file, tags(app.images), live.replace('_', ' '),
    last ? `${last.request.requested_by} ${last.status}` : '', app.pin ? 'pinned' : ''].join(' ').toLowerCase();
  return el('tr', { 'data-search': search, 'data-target': key(t), 'data-live': live, 'data-last': last ? last.status : 'none', 'data-pinned': String(Boolean(app.pin)) },
    el('th', { scope: 'row' }, el('a', { href: `#/app/${targetPath(t)}` }, app.file)),
    el('td', {}, tag), el('td', { class: 'live-cell' }, liveCell(app.live)), el('td', {}, lastDeploymentCell(last)),
    el('td', {}, pin), el('td', {}, actions));
}

// App page: the file's history on this cluster, the same file elsewhere, pin and unpin.
async function appPage(t) {
  const q = new URLSearchParams({ region: t.region, cluster: t.cluster, file: t.file, limit: '50' });
  const [history, clusters] = await Promise.all([
    api('GET', `/api/v1/deployments?${q}`),
    api('GET', '/api/v1/clusters'),
  ]);
  const title = `${t.file} on ${t.region}/${t.cluster}`;
  if (history.status !== 200) return setView(title, el('p', { class: 'error' }, problem(history)));
  let here = null;
  const elsewhere = [];
  if (clusters.status === 200) {
    learnActions(clusters.body.clusters);
    for (const c of clusters.body.clusters) {
      const app = c.apps.find((a) => a.file === t.file);
      if (!app) continue;
      if (c.region === t.region && c.cluster === t.cluster) here = { cluster: c, app, self: true };
      else elsewhere.push({ cluster: c, app });
    }
  } else {
    await actionsOn(t);
  }
  const app = here ? here.app : null;
  const currentTag = app ? tagOf(app.images[0]) : '';
  const summary = el('dl', { class: 'facts' },
    el('dt', {}, 'Image tag (repository)'), el('dd', {}, el('code', {}, app ? tags(app.images) : '—')),
    el('dt', {}, 'Live in the cluster'), el('dd', { id: 'live-state' }, app ? liveCell(app.live) : '—'),
    here && here.cluster.environment ? el('dt', {}, 'Environment') : null,
    here && here.cluster.environment ? el('dd', {}, here.cluster.environment) : null,
    el('dt', {}, 'Pin'), el('dd', { id: 'pin-state' }, app && app.pin
      ? el('span', { class: 'pin' }, `pinned by ${app.pin.pinned_by}${app.pin.reason ? ` — ${app.pin.reason}` : ''}`)
      : 'not pinned'));
  const actions = el('div', { class: 'actions' },
    allowed('deploy', t) ? el('a', { class: 'button', id: 'deploy-link', href: `#/deploy/${targetPath(t)}` }, 'Deploy…') : null,
    app && allowed('pin', t) ? pinButton(t, app.pin) : null);
  const confirmSlot = el('div', { id: 'confirm-slot' });
  const rows = history.body.items.map((d) => historyRow(d, confirmSlot));
  const environments = elsewhere.length && here
    ? el('section', { 'aria-labelledby': 'envs' }, el('h2', { id: 'envs' }, 'Across environments'),
      el('div', { class: 'cards' }, [here, ...elsewhere].map((x) => envCard(t, x, currentTag))))
    : null;
  return setView(title, summary, actions, confirmSlot, environments,
    el('h2', {}, 'History'),
    rows.length ? table(`Deployments of ${t.file} on ${t.region}/${t.cluster}, newest first`,
      ['When', 'Trigger', 'Requested by', 'Change', 'Commit', 'CI build', 'Duration', 'Outcome', 'Failure', 'Actions'], rows)
      : el('p', {}, 'No deployments yet.'));
}

// One environment's card: its tag, live state and pin; elsewhere, a one-click promote of this
// page's tag when it differs and the token may deploy there.
function envCard(self, x, currentTag) {
  const t = { region: x.cluster.region, cluster: x.cluster.cluster, file: self.file };
  const theirTag = tagOf(x.app.images[0]);
  const promote = !x.self && currentTag && currentTag !== theirTag && allowed('deploy', t)
    ? el('a', { class: 'button secondary promote', href: `#/deploy/${targetPath(t)}?tag=${encodeURIComponent(currentTag)}` },
      `Promote ${currentTag} to ${t.region}/${t.cluster}`)
    : null;
  const name = `${t.region}/${t.cluster}${x.cluster.environment ? ` (${x.cluster.environment})` : ''}`;
  return el('div', { class: 'card', 'data-target': key(t) },
    el('h3', {}, x.self ? `${name}, this page` : el('a', { href: `#/app/${targetPath(t)}` }, name)),
    el('p', {}, 'Tag ', el('code', {}, tags(x.app.images)), x.app.pin ? el('span', { class: 'pin' }, ' · pinned') : ''),
    el('p', {}, liveCell(x.app.live)),
    promote);
}

function historyRow(d, confirmSlot) {
  const r = d.request;
  const source = r.source || {};
  const change = `${tags(d.old_images)} → ${tags(d.new_images)}`;
  const failure = d.failure ? `${d.failure.message} [${d.failure.code}]` : '—';
  const canUndo = d.status === 'succeeded' && (d.old_images || []).length > 0 && r.method !== 'dry-run' && allowed('rollback', r.target);
  return el('tr', { 'data-id': d.id },
    el('td', {}, when(d.created_at)),
    el('td', {}, source.kind || '—', r.method !== 'apply' ? ` (${r.method})` : ''),
    el('td', {}, r.requested_by),
    el('td', {}, el('code', {}, change)),
    el('td', {}, d.commit_sha ? commitRef(d) : (source.commit ? el('code', {}, source.commit.slice(0, 12)) : '—')),
    el('td', {}, buildRef(source)),
    el('td', {}, duration(d)),
    el('td', {}, statusWord(d.status)),
    el('td', {}, failure),
    el('td', {}, el('span', { class: 'actions' },
      el('a', { href: `#/deployment/${d.id}` }, 'Details'),
      canUndo ? el('button', { type: 'button', class: 'secondary rollback', on: { click: () => confirmRollback(d, confirmSlot) } }, 'Roll back') : null)));
}

function confirmBox(slot, text, label, danger, action, extra) {
  const confirm = el('button', { type: 'button', class: danger ? 'danger' : null, id: 'confirm-action' }, label);
  const cancel = el('button', { type: 'button', class: 'secondary', on: { click: () => slot.replaceChildren() } }, 'Cancel');
  confirm.addEventListener('click', async () => {
    confirm.disabled = true;
    try { await action(); } finally { confirm.disabled = false; }
  });
  const box = el('div', { class: 'confirm', role: 'group', 'aria-label': 'Confirmation' }, el('p', {}, text), extra, el('div', { class: 'actions' }, confirm, cancel));
  // Escape cancels, as the Cancel button does.
  box.addEventListener('keydown', (event) => { if (event.key === 'Escape') slot.replaceChildren(); });
  put(slot, box);
  confirm.focus();
}

function confirmRollback(d, slot) {
  const t = d.request.target;
  const reason = el('input', { id: 'rollback-reason', type: 'text', maxlength: '1000' });
  confirmBox(slot,
    `Roll ${t.file} on ${t.region}/${t.cluster} back from ${tags(d.new_images)} to ${tags(d.old_images)}? The target is then pinned: automatic triggers leave it alone until it is unpinned.`,
    'Confirm rollback', true, async () => {
      const answer = await api('POST', `/api/v1/deployments/${encodeURIComponent(d.id)}/rollback`,
        reason.value.trim() ? { reason: reason.value.trim() } : {});
      if (answer.status === 202 || answer.status === 200) {
        location.hash = `#/deployment/${answer.body.id}`;
      } else if (!refused(answer, 'rollback', t)) {
        flash(`Rollback refused: ${problem(answer)}`, true);
      } else {
        route();
      }
    },
    el('div', { class: 'form' }, el('label', { for: 'rollback-reason' }, 'Reason (optional)'), reason));
}

function pinButton(t, pin) {
  const slot = () => document.getElementById('confirm-slot');
  if (pin) {
    return el('button', { type: 'button', class: 'secondary', id: 'unpin', on: { click: () => confirmBox(slot(),
      `Unpin ${key(t)}? Automatic triggers (registry pushes, CI releases) may deploy it again.`, 'Confirm unpin', false, async () => {
        const answer = await api('DELETE', `/api/v1/pins/${targetPath(t)}`);
        if (answer.status === 200) { flash(`${key(t)} is no longer pinned.`); route(); }
        else if (refused(answer, 'pin', t)) route();
        else flash(`Unpin refused: ${problem(answer)}`, true);
      }) } }, 'Unpin…');
  }
  const reason = el('input', { id: 'pin-reason', type: 'text', maxlength: '1000' });
  return el('button', { type: 'button', class: 'secondary', id: 'pin', on: { click: () => confirmBox(slot(),
    `Pin ${key(t)}? Automatic triggers will leave it alone until it is unpinned; people can still deploy it.`, 'Confirm pin', false, async () => {
      const answer = await api('PUT', `/api/v1/pins/${targetPath(t)}`, reason.value.trim() ? { reason: reason.value.trim() } : {});
      if (answer.status === 200) { flash(`${key(t)} is pinned.`); route(); }
      else if (refused(answer, 'pin', t)) route();
      else flash(`Pin refused: ${problem(answer)}`, true);
    }, el('div', { class: 'form' }, el('label', { for: 'pin-reason' }, 'Reason (optional)'), reason)) } }, 'Pin…');
}

// Deploy: choose the tag and method, preview (dry-run: the diff and the commit message), confirm.
async function deployPage(t, params) {
  const title = `Deploy ${t.file} to ${t.region}/${t.cluster}`;
  await actionsOn(t);
  if (!allowed('deploy', t)) {
    return setView(title, el('p', { id: 'deploy-denied' }, `This token may not deploy to ${key(t)}.`),
      el('p', {}, el('a', { href: `#/app/${targetPath(t)}` }, 'Back to the history')));
  }
  const tag = el('input', { id: 'tag', name: 'tag', type: 'text', value: params.get('tag') || '', autocomplete: 'off', spellcheck: 'false' });
  const method = el('select', { id: 'method', name: 'method' },
    el('option', { value: 'apply' }, 'apply — commit, push, apply, watch the rollout'),
    el('option', { value: 'commit-only' }, 'commit-only — commit and push (GitOps)'),
    el('option', { value: 'restart' }, 'restart — a committed rolling restart'));
  const timeout = el('input', { id: 'timeout', name: 'timeout', type: 'text', placeholder: 'e.g. 90s or 10m', autocomplete: 'off' });
  const reason = el('input', { id: 'reason', name: 'reason', type: 'text', maxlength: '1000' });
  const preview = el('section', { id: 'preview', 'aria-live': 'polite' });
  const previewButton = el('button', { type: 'submit', id: 'preview-button' }, 'Preview');
  const form = el('form', { class: 'form', id: 'deploy-form' },
    el('p', {}, 'Target ', el('code', {}, key(t))),
    el('label', { for: 'tag' }, 'Image tag'), tag,
    el('label', { for: 'method' }, 'Method'), method,
    el('label', { for: 'timeout' }, 'Rollout timeout (optional)'), timeout,
    el('label', { for: 'reason' }, 'Reason (optional)'), reason,
    el('div', { class: 'actions' }, previewButton, el('a', { href: `#/app/${targetPath(t)}` }, 'Cancel')));
  const body = (m) => {
    const b = { region: t.region, cluster: t.cluster, file: t.file, method: m, source: { kind: 'ui' } };
    if (tag.value.trim()) b.tag = tag.value.trim();
    if (timeout.value.trim()) b.timeout = timeout.value.trim();
    if (reason.value.trim()) b.reason = reason.value.trim();
    return b;
  };
  for (const input of [tag, method, timeout, reason]) input.addEventListener('input', () => preview.replaceChildren());
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    previewButton.disabled = true;
    preview.replaceChildren(el('p', {}, 'Preparing the preview…'));
    try {
      const chosen = method.value;
      const answer = await api('POST', '/api/v1/deployments?wait=true&timeout=1m', body('dry-run'));
      if (answer.status !== 200) {
        if (refused(answer, 'deploy', t)) { route(); return; }
        preview.replaceChildren(el('p', { class: 'error', id: 'preview-error' }, `Preview refused: ${problem(answer)}`));
        return;
      }
      const d = answer.body;
      if (d.status === 'failed') {
        preview.replaceChildren(el('p', { class: 'error', id: 'preview-error' },
          `The preview failed: ${d.failure ? d.failure.message : 'no reason given'}`));
        return;
      }
      const dry = d.dry_run || { diff: '', commit_message: '', objects: [] };
      const confirm = el('button', { type: 'button', id: 'confirm-deploy' }, `Deploy ${tag.value.trim() || '(restart)'} with ${chosen}`);
      confirm.addEventListener('click', async () => {
        confirm.disabled = true;
        const real = await api('POST', '/api/v1/deployments', body(chosen));
        if (real.status === 202 || real.status === 200) location.hash = `#/deployment/${real.body.id}`;
        else if (refused(real, 'deploy', t)) route();
        else { confirm.disabled = false; flash(`Deployment refused: ${problem(real)}`, true); }
      });
      put(preview,
        el('h2', {}, 'Preview'),
        el('p', {}, d.status === 'unchanged' ? 'Nothing would change: the file already has this image.' : 'Nothing has been written yet.'),
        el('h3', {}, 'File diff'), el('pre', { id: 'preview-diff' }, dry.diff || '(no change)'),
        el('h3', {}, 'Commit message'), el('pre', { id: 'preview-commit' }, dry.commit_message || '—'),
        dry.objects.length ? el('p', {}, 'Objects: ', dry.objects.join(', ')) : null,
        el('div', { class: 'actions' }, confirm));
      confirm.focus();
    } finally {
      previewButton.disabled = false;
    }
  });
  return setView(title, form, preview);
}

// A deployment, followed live through Server-Sent Events until it ends.
async function deploymentPage(id) {
  const answer = await api('GET', `/api/v1/deployments/${encodeURIComponent(id)}`);
  if (answer.status !== 200) return setView('Deployment', el('p', { class: 'error' }, problem(answer)));
  const body = el('div', { id: 'deployment' });
  const heading = setView(`Deployment ${id}`, body);
  renderDeployment(body, answer.body);
  if (!TERMINAL.includes(answer.body.status)) {
    const stream = new EventSource(`/api/v1/deployments/${encodeURIComponent(id)}/events`);
    state.stream = stream;
    const onEvent = (message) => {
      let event;
      try { event = JSON.parse(message.data); } catch (e) { return; }
      renderDeployment(body, event.record);
      if (TERMINAL.includes(event.kind)) { stream.close(); if (state.stream === stream) state.stream = null; }
    };
    for (const kind of ['queued', 'committed', 'applied', 'progress', ...TERMINAL]) stream.addEventListener(kind, onEvent);
    stream.addEventListener('error', () => {
      if (stream.readyState === EventSource.CLOSED && state.stream === stream) {
        flash('The live view was interrupted; reload to follow the deployment again.', true);
      }
    });
  }
  return heading;
}

function renderDeployment(container, d) {
  const r = d.request;
  const t = r.target;
  const ro = d.rollout;
  const done = new Set(Object.keys(d.phase_times || {}));
  const phases = el('ol', { class: 'phases', 'aria-label': 'Phases' },
    PHASES.map((p) => el('li', { class: done.has(p) ? 'done' : null }, `${p.replace('_', ' ')}${done.has(p) ? '' : ' (not yet)'}`)));
  const replicas = ro ? el('div', { class: 'replicas', id: 'replicas', 'aria-label': 'Replicas' },
    ['desired', 'updated', 'ready', 'available'].map((k) => el('div', {}, el('strong', {}, String(ro[k])), k))) : null;
  const failure = d.failure ? el('section', { id: 'failure', 'aria-label': 'Failure' },
    el('h2', {}, 'Why it failed'),
    el('p', { class: 'error', id: 'failure-reason' }, `${d.failure.message} [${d.failure.code}]`),
    (d.failure.pods || []).length ? el('ul', {}, d.failure.pods.map((p) =>
      el('li', {}, `${p.pod}/${p.container}: ${p.reason}${p.message ? ` — ${p.message}` : ''}${p.restarts ? ` (${p.restarts} restarts)` : ''}`))) : null) : null;
  const dry = d.dry_run ? el('section', {}, el('h2', {}, 'Dry run'), el('pre', {}, d.dry_run.diff), el('pre', {}, d.dry_run.commit_message)) : null;
  const terminal = TERMINAL.includes(d.status);
  put(container,
    el('p', { id: 'deployment-status', 'data-status': d.status, 'aria-live': 'polite' }, 'Status: ', statusWord(d.status),
      terminal ? '' : ' — following live'),
    el('dl', { class: 'facts' },
      el('dt', {}, 'Target'), el('dd', {}, el('a', { href: `#/app/${targetPath(t)}` }, key(t))),
      el('dt', {}, 'Change'), el('dd', {}, el('code', {}, `${tags(d.old_images)} → ${tags(d.new_images)}`)),
      el('dt', {}, 'Method'), el('dd', {}, r.method),
      el('dt', {}, 'Requested by'), el('dd', {}, `${r.requested_by} (${(r.source || {}).kind || 'api'})`),
      el('dt', {}, 'Started'), el('dd', {}, when(d.created_at)),
      el('dt', {}, 'Duration'), el('dd', {}, duration(d)),
      el('dt', {}, 'Commit'), el('dd', { id: 'commit' }, d.commit_sha ? commitRef(d) : '—'),
      el('dt', {}, 'Rollout'), el('dd', { id: 'rollout-message' }, ro ? ro.message : '—'),
      r.rollback_of ? el('dt', {}, 'Rolls back') : null,
      r.rollback_of ? el('dd', {}, el('a', { href: `#/deployment/${r.rollback_of}` }, r.rollback_of)) : null),
    phases, replicas, failure, dry);
}

// Triggers: what webhooks and releases arrived and what they became (operators).
async function triggersPage() {
  const answer = await api('GET', '/api/v1/triggers?limit=100');
  if (answer.status === 403) {
    document.getElementById('nav-triggers').hidden = true;
    return setView('Triggers', el('p', {}, 'This token may not read the received triggers.'));
  }
  if (answer.status !== 200) return setView('Triggers', el('p', { class: 'error' }, problem(answer)));
  const rows = answer.body.items.map((tr) => el('tr', {},
    el('td', {}, when(tr.at)), el('td', {}, tr.source), el('td', {}, tr.identity), el('td', {}, statusWord(tr.outcome)),
    el('td', {}, tr.reason || '—'), el('td', {}, (tr.matched_rules || []).join(', ') || '—'),
    el('td', {}, (tr.deployment_ids || []).map((id) => el('a', { href: `#/deployment/${id}` }, `${id.slice(0, 10)}… `)))));
  return setView('Triggers',
    rows.length ? table('Received triggers, newest first', ['When', 'Source', 'Identity', 'Outcome', 'Reason', 'Rules', 'Deployments'], rows)
      : el('p', {}, 'No trigger received yet.'));
}

// Dead events: notifications no sink could take, with their last error; retry them (operators).
async function eventsPage() {
  const answer = await api('GET', '/api/v1/events?state=dead&limit=200');
  if (answer.status === 403) {
    document.getElementById('nav-events').hidden = true;
    return setView('Dead events', el('p', {}, 'This token may not read the dead events.'));
  }
  if (answer.status !== 200) return setView('Dead events', el('p', { id: 'events-unavailable' }, problem(answer)));
  const retry = async (path, what) => {
    const r = await api('POST', path);
    if (r.status === 200) { flash(`${what} will be delivered again.`); route(); }
    else flash(`Retry refused: ${problem(r)}`, true);
  };
  const sinks = [...new Set(answer.body.events.map((e) => e.sink))];
  const rows = answer.body.events.map((e) => el('tr', {},
    el('td', {}, when(e.at)), el('td', {}, e.sink), el('td', {}, e.kind), el('td', {}, e.target),
    el('td', {}, el('a', { href: `#/deployment/${e.deployment_id}` }, e.deployment_id.slice(0, 10) + '…')),
    el('td', {}, String(e.attempts)), el('td', {}, e.last_error || '—'),
    el('td', {}, el('button', { type: 'button', class: 'secondary', on: { click: () => retry(`/api/v1/events/${e.id}/retry`, `Event ${e.id}`) } }, 'Retry'))));
  return setView('Dead events',
    sinks.length ? el('div', { class: 'actions' }, sinks.map((s) => el('button', { type: 'button', class: 'secondary',
      on: { click: () => retry(`/api/v1/events/retry?sink=${encodeURIComponent(s)}`, `Every dead event of ${s}`) } }, `Retry all of ${s}`))) : null,
    rows.length ? table('Events no sink could take, oldest first', ['When', 'Sink', 'Event', 'Target', 'Deployment', 'Attempts', 'Last error', 'Actions'], rows)
      : el('p', { id: 'no-dead-events' }, 'No dead events: every notification was delivered or is still being tried.'));
}

// ---------- start ----------

async function start() {
  document.getElementById('signin-form').addEventListener('submit', signIn);
  document.getElementById('signout').addEventListener('click', signOut);
  window.addEventListener('hashchange', onNavigate);
  const failed = new URLSearchParams(location.search).get('signin');
  const response = await fetch('/ui/session', { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  if (response.ok) await signedIn(await response.json());
  else showSignin(failed ? `Sign-in failed (${failed}).` : '');
}

start();
