import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { FAILED_STATES, MACHINE_STATES, STABLE_STATES, type MachineState } from '../lifecycle/lifecycle.js';
import { isMetalboxError } from '../lib/errors.js';
import { normalizeMac } from '../lib/mac.js';
import { parseMachineRef } from '../lib/machine-ref.js';
import { REPORTS_BACK, type BootVerdict } from '../netboot/boot-verdict.js';
import type { Onboarding } from '../onboarding/onboarding.js';
import type { Catalog } from '../profiles/catalog.js';
import type { Provisioning } from '../provisioning/provisioning.js';
import type { MachineEventJson, MachineJson, Store } from '../store/index.js';
import { html, raw, type Html } from './html.js';
import { page, SCRIPT, STYLE } from './page.js';
import { sameCsrf, type UiSession, type UiSessions } from './sessions.js';
import { BMC_PROTOCOL_NAMES } from '../store/bmcs.js';

export interface UiOptions {
  store: Store;
  sessions: UiSessions;
  provisioning?: Provisioning | undefined;
  onboarding?: Onboarding | undefined;
  /** The boot verdict of a machine ("why did it not boot"). */
  verdict?: ((machineId: string) => BootVerdict) | undefined;
  /** The profiles and server types in force, for the catalog page. */
  catalog?: Catalog | undefined;
}

const COOKIE = 'mbx_session';
/** Machines a fleet page lists at most (filter to see others): a page of 100,000 rows helps nobody. */
const PAGE_ROWS = 500;
const SORTS = ['state', 'type', 'model', 'cpus', 'memory', 'updated'] as const;
type Sort = (typeof SORTS)[number];
const ACTIONS = [
  'maintenance-on',
  'maintenance-off',
  'power-on',
  'power-off',
  'power-cycle',
  'provision',
  'deprovision',
  'delete',
] as const;
type Action = (typeof ACTIONS)[number];

/**
 * The operator's console under /ui/: the fleet, a machine, its live timeline and boot
 * verdict, and the actions, behind the API token (a login that keeps an HttpOnly,
 * SameSite=Strict session cookie). Every change is a POST carrying the session's CSRF
 * token; pages are written on the server, every value escaped.
 */
export function uiRoutes(app: FastifyInstance, options: UiOptions): void {
  const { store, sessions } = options;
  app.register(async (ui) => {
    ui.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 16 * 1024 }, (_request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)));
    });
    ui.addHook('onSend', async (_request, reply, payload) => {
      reply.header('cache-control', 'no-store').header('x-frame-options', 'DENY').header('x-content-type-options', 'nosniff');
      // Scripts only from metalbox itself; style attributes carry the bars' widths.
      reply.header(
        'content-security-policy',
        "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'",
      );
      return payload;
    });

    ui.get('/ui/app.css', async (_request, reply) => reply.type('text/css; charset=utf-8').send(STYLE));
    ui.get('/ui/app.js', async (_request, reply) => reply.type('text/javascript; charset=utf-8').send(SCRIPT));

    ui.get('/ui/login', async (_request, reply) => reply.type('text/html; charset=utf-8').send(loginPage(null)));
    ui.post<{ Body: { token?: string } }>('/ui/login', {
      schema: { body: { type: 'object', properties: { token: { type: 'string', maxLength: 256 } } } },
      handler: async (request, reply) => {
        const login = sessions.login(request.body?.token?.trim() ?? '');
        if (login === null)
          return reply.code(401).type('text/html; charset=utf-8').send(loginPage('That is not the API token of this metalbox.'));
        reply.header('set-cookie', `${COOKIE}=${login.id}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=43200`);
        return reply.code(303).header('location', '/ui/').send();
      },
    });

    ui.register(async (scope) => {
      scope.addHook('preHandler', async (request, reply) => {
        const session = sessions.get(cookieOf(request));
        if (session === null) {
          if (request.method === 'GET' && !request.url.includes('/live')) return reply.code(303).header('location', '/ui/login').send();
          return reply.code(401).type('text/plain; charset=utf-8').send('log in again\n');
        }
        if (request.method === 'POST' && !sameCsrf(session, (request.body as { csrf?: unknown } | undefined)?.csrf))
          return reply.code(403).type('text/plain; charset=utf-8').send('this form is stale or from another site: reload the page\n');
        (request as FastifyRequest & { session: UiSession }).session = session;
      });
      const sessionOf = (request: FastifyRequest) => (request as FastifyRequest & { session: UiSession }).session;

      scope.post('/ui/logout', async (request, reply) => {
        sessions.logout(cookieOf(request));
        reply.header('set-cookie', `${COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0`);
        return reply.code(303).header('location', '/ui/login').send();
      });

      const fleetQuery = {
        type: 'object',
        additionalProperties: false,
        properties: {
          q: { type: 'string', maxLength: 200 },
          state: { type: 'string', enum: ['', ...MACHINE_STATES] },
          sort: { type: 'string', enum: [...SORTS] },
        },
      };
      type FleetQuery = { q?: string; state?: MachineState | ''; sort?: Sort };
      scope.get<{ Querystring: FleetQuery }>('/ui/', { schema: { querystring: fleetQuery } }, async (request, reply) =>
        reply.type('text/html; charset=utf-8').send(page('Fleet', fleetPage(store, request.query, sessionOf(request)), sessionOf(request))),
      );
      scope.get<{ Querystring: FleetQuery }>('/ui/live', { schema: { querystring: fleetQuery } }, async (request, reply) =>
        reply.type('text/html; charset=utf-8').send(fleetLive(store, request.query).text),
      );
      scope.post<{ Body: { bmcMac?: string; ip?: string } }>('/ui/onboard', async (request, reply) => {
        const bmcMac = request.body?.bmcMac?.trim() ?? '';
        const ip = request.body?.ip?.trim();
        const session = sessionOf(request);
        if (options.onboarding === undefined) return back(reply, session, '/ui/', 'onboarding is not available here');
        try {
          const ticket = options.onboarding.request({ bmcMac, ...(ip ? { ip } : {}) });
          return back(reply, session, `/ui/machines/${ticket.machine.id}`, `onboarding BMC ${ticket.machine.bmc?.mac ?? bmcMac}`);
        } catch (error) {
          return back(reply, session, '/ui/', messageOf(error));
        }
      });

      scope.get<{ Querystring: { mac?: string } }>(
        '/ui/observations',
        {
          schema: { querystring: { type: 'object', additionalProperties: false, properties: { mac: { type: 'string', maxLength: 32 } } } },
        },
        async (request, reply) =>
          reply.type('text/html; charset=utf-8').send(page('Observations', observationsPage(store, request.query.mac), sessionOf(request))),
      );
      scope.get('/ui/catalog', async (request, reply) =>
        reply.type('text/html; charset=utf-8').send(page('Profiles and server types', catalogPage(options.catalog), sessionOf(request))),
      );

      const machineParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 64 } } };
      scope.get<{ Params: { id: string } }>('/ui/machines/:id', { schema: { params: machineParams } }, async (request, reply) => {
        const machine = machineOf(store, request.params.id);
        if (machine === null)
          return reply
            .code(404)
            .type('text/html; charset=utf-8')
            .send(page('Not found', html`<p>No machine ${request.params.id}.</p>`, sessionOf(request)));
        const body = machinePage(machine, store, options, sessionOf(request));
        return reply.type('text/html; charset=utf-8').send(page(machine.id, body, sessionOf(request)));
      });
      scope.get<{ Params: { id: string } }>('/ui/machines/:id/live', { schema: { params: machineParams } }, async (request, reply) => {
        const machine = machineOf(store, request.params.id);
        if (machine === null) return reply.code(404).send();
        return reply.type('text/html; charset=utf-8').send(machineLive(machine, store, options).text);
      });
      scope.post<{ Params: { id: string }; Body: { action?: string } }>(
        '/ui/machines/:id/actions',
        { schema: { params: machineParams } },
        async (request, reply) => {
          const action = request.body?.action as Action;
          const here = `/ui/machines/${encodeURIComponent(request.params.id)}`;
          const session = sessionOf(request);
          if (!ACTIONS.includes(action)) return back(reply, session, here, 'unknown action');
          try {
            return back(reply, session, action === 'delete' ? '/ui/' : here, act(action, request.params.id, options));
          } catch (error) {
            return back(reply, session, here, messageOf(error));
          }
        },
      );
    });
  });
}

/** What DHCP snooping saw, most recent first: how onboarding finds a BMC, and the first thing to look at when a machine does not boot. */
function observationsPage(store: Store, mac: string | undefined): Html {
  const normalized = mac === undefined || mac.trim() === '' ? undefined : normalizeMac(mac);
  const rows = normalized === null ? [] : store.observations.list({ mac: normalized, limit: 200 });
  return html`<h1>Observations</h1>
<form class="filters" method="get" action="/ui/observations" role="search">
<label for="mac">MAC</label> <input id="mac" name="mac" value="${mac ?? ''}" placeholder="any">
<button>Show</button>
</form>
${normalized === null ? html`<p class="flash bad" role="alert">${mac} is not a MAC address.</p>` : raw('')}
<div class="scroll"><table>
<thead><tr><th>MAC</th><th>Message</th><th>Address</th><th>Vendor class</th><th class="num">Arch</th><th class="wide">Host name</th><th>Last seen</th><th class="num">Count</th></tr></thead>
<tbody>${rows.map(
    (seen) =>
      html`<tr><td>${seen.mac}</td><td>${seen.messageType}</td><td>${seen.ip ?? '–'}</td><td>${seen.vendorClass ?? '–'}</td><td class="num">${seen.arch ?? '–'}</td><td class="wide">${seen.hostname ?? '–'}</td><td><time datetime="${seen.lastSeen}">${seen.lastSeen.replace('T', ' ').slice(0, 19)}</time></td><td class="num">${seen.count}</td></tr>`,
  )}</tbody>
</table></div>`;
}

/** The profiles and server types in force, and where each comes from (the config file or the API). */
function catalogPage(catalog: Catalog | undefined): Html {
  if (catalog === undefined) return html`<h1>Profiles and server types</h1><p>Not available here.</p>`;
  return html`<h1>Profiles</h1>
<div class="scroll"><table>
<thead><tr><th>Name</th><th>Source</th><th>Boots</th></tr></thead>
<tbody>${catalog
    .listProfiles()
    .map(
      (view) =>
        html`<tr><td>${view.name}</td><td>${view.source}</td><td>${view.spec.image ? `image ${view.spec.image.url}` : view.spec.script !== undefined ? 'iPXE script' : (view.spec.kernel ?? '–')}</td></tr>`,
    )}</tbody>
</table></div>
<h1>Server types</h1>
<div class="scroll"><table>
<thead><tr><th>Name</th><th>Source</th><th>Matches</th><th>Profile</th></tr></thead>
<tbody>${catalog.listServerTypes().map(
    (view) =>
      html`<tr><td>${view.name}</td><td>${view.source}</td><td>${Object.entries(view.spec.match ?? {})
        .map(([fact, value]) => `${fact} ${String(value)}`)
        .join(', ')}</td><td>${view.spec.profile ?? '–'}</td></tr>`,
  )}</tbody>
</table></div>`;
}

function act(action: Action, id: string, options: UiOptions): string {
  const ref = { kind: 'id' as const, id };
  const { store, provisioning } = options;
  const needs = () => {
    if (provisioning === undefined) throw new Error('provisioning is not available here');
    return provisioning;
  };
  switch (action) {
    case 'maintenance-on':
    case 'maintenance-off': {
      const on = action === 'maintenance-on';
      store.machines.setMaintenance(id, on);
      return on ? 'in maintenance: no boot answers' : 'out of maintenance';
    }
    case 'power-on':
    case 'power-off':
    case 'power-cycle':
      needs().power(ref, action.slice(6) as 'on' | 'off' | 'cycle');
      return `power ${action.slice(6)} requested`;
    case 'provision':
      return `provisioning under operation ${needs().provision(ref).operationId}`;
    case 'deprovision':
      return `deprovisioning under operation ${needs().deprovision(ref).operationId}`;
    case 'delete':
      store.machines.delete(id, { force: false });
      return `machine ${id} deleted`;
  }
}

function loginPage(problem: string | null): string {
  return page(
    'Log in',
    html`<h1>Log in</h1>
${problem ? html`<p class="flash bad" role="alert">${problem}</p>` : raw('')}
<form method="post" action="/ui/login">
<p><label for="token">API token</label><br><input id="token" name="token" type="password" autocomplete="current-password" size="50" required autofocus></p>
<p><small>The <code>api-token</code> file of metalbox's data dir. It stays on the server: this browser keeps a session cookie only.</small></p>
<p><button>Log in</button></p>
</form>`,
    null,
  );
}

function fleetPage(store: Store, query: { q?: string; state?: MachineState | ''; sort?: Sort }, session: UiSession): Html {
  return html`${flashOf(session)}
<h1>Fleet</h1>
<form class="filters" method="get" action="/ui/" role="search">
<label for="q">Filter</label> <input id="q" name="q" value="${query.q ?? ''}" placeholder="serial, model, MAC, IP, profile…">
<label for="state">State</label> <select id="state" name="state"><option value="">any</option>${MACHINE_STATES.map(
    (state) => html`<option${query.state === state ? raw(' selected') : raw('')}>${state}</option>`,
  )}</select>
<input type="hidden" name="sort" value="${query.sort ?? 'state'}">
<button>Show</button>
</form>
<div data-live="/ui/live">${fleetLive(store, query)}</div>
<h2>Onboard a BMC</h2>
<form class="filters" method="post" action="/ui/onboard">
<input type="hidden" name="csrf" value="${session.csrf}">
<label for="bmcMac">BMC MAC</label> <input id="bmcMac" name="bmcMac" required pattern="[0-9A-Fa-f:.\\-]{12,17}" placeholder="94:40:c9:00:00:01">
<label for="ip">IP (optional)</label> <input id="ip" name="ip" placeholder="found from its MAC if empty">
<button>Onboard</button>
</form>`;
}

/** The live part of the fleet page: counts by state, and the table. */
function fleetLive(store: Store, query: { q?: string; state?: MachineState | ''; sort?: Sort }): Html {
  const counts = store.machines.countByState();
  const total = Object.values(counts).reduce((sum, count) => sum + (count ?? 0), 0);
  const all = store.machines.list({ ...(query.state ? { state: query.state } : {}), ...(query.q ? { q: query.q.toLowerCase() } : {}) });
  const sorted = [...all].sort(comparator(query.sort ?? 'state'));
  const shown = sorted.slice(0, PAGE_ROWS);
  const present = MACHINE_STATES.filter((state) => (counts[state] ?? 0) > 0);
  const sortLink = (sort: Sort, label: string) =>
    html`<a href="/ui/?${new URLSearchParams({ ...(query.q ? { q: query.q } : {}), ...(query.state ? { state: query.state } : {}), sort }).toString()}"${query.sort === sort ? raw(' aria-sort="ascending"') : raw('')}>${label}</a>`;
  return html`<section aria-label="machines by state">
<p>${total} machine${total === 1 ? '' : 's'}</p>
<div class="bar" role="img" aria-label="${present.map((state) => `${state} ${counts[state]}`).join(', ')}">${present.map(
    (state) => html`<span class="${tone(state)}" style="flex:${counts[state] ?? 0}" title="${state}: ${counts[state]}"></span>`,
  )}</div>
<ul class="legend">${present.map((state) => html`<li><span class="state ${tone(state)}">${state}</span> ${counts[state]}</li>`)}</ul>
</section>
<div class="scroll"><table>
<caption class="wide">${shown.length < all.length ? `the first ${shown.length} of ${all.length}: filter to see the others` : ''}</caption>
<thead><tr><th>Machine</th><th>${sortLink('state', 'State')}</th><th class="wide">${sortLink('type', 'Type')}</th><th class="wide">Power</th><th>${sortLink('model', 'Model')}</th><th class="num wide">${sortLink('cpus', 'CPUs')}</th><th class="num wide">${sortLink('memory', 'Memory')}</th><th class="wide">${sortLink('updated', 'Last event')}</th></tr></thead>
<tbody>${shown.map(
    (machine) => html`<tr>
<td><a href="/ui/machines/${machine.id}">${machine.id}</a><br><small>${machine.bmc?.mac ?? machine.nics[0]?.mac ?? ''}</small></td>
<td><span class="state ${tone(machine.state)}">${machine.state}</span>${machine.maintenance ? html`<br><small>maintenance</small>` : raw('')}${machine.warnings.length > 0 ? html`<br><small title="${machine.warnings.join('\n')}">⚠ ${machine.warnings.length}</small>` : raw('')}</td>
<td class="wide">${machine.serverType ?? '–'}</td>
<td class="wide">${machine.power ?? '–'}</td>
<td>${[machine.system.manufacturer, machine.system.model].filter(Boolean).join(' ') || '–'}</td>
<td class="num wide">${machine.cpu.cores ?? '–'}</td>
<td class="num wide">${machine.memory.totalGiB === null ? '–' : `${machine.memory.totalGiB} GiB`}</td>
<td class="wide">${lastEvent(store, machine)}</td>
</tr>`,
  )}</tbody>
</table></div>`;
}

/** A row's last event: its time and message (one indexed read per row shown). */
function lastEvent(store: Store, machine: MachineJson): Html {
  const [event] = store.machines.events(machine.id, { limit: 1 });
  if (event === undefined) return html`–`;
  return html`<time datetime="${event.at}">${event.at.replace('T', ' ').slice(0, 19)}</time><br><small>${event.message.slice(0, 80)}</small>`;
}

function machinePage(machine: MachineJson, store: Store, options: UiOptions, session: UiSession): Html {
  const button = (action: Action, label: string) =>
    html`<form class="inline" method="post" action="/ui/machines/${machine.id}/actions"><input type="hidden" name="csrf" value="${session.csrf}"><input type="hidden" name="action" value="${action}"><button>${label}</button></form>`;
  return html`${flashOf(session)}
<h1>${machine.id}</h1>
<div class="actions" aria-label="actions">
${machine.maintenance ? button('maintenance-off', 'Maintenance off') : button('maintenance-on', 'Maintenance on')}
${button('power-on', 'Power on')} ${button('power-off', 'Power off')} ${button('power-cycle', 'Power cycle')}
${button('provision', 'Provision')} ${button('deprovision', 'Deprovision')} ${button('delete', 'Delete')}
</div>
<div data-live="/ui/machines/${machine.id}/live">${machineLive(machine, store, options)}</div>`;
}

/** The live part of a machine's page: its state and facts, its boot, its timeline. */
function machineLive(machine: MachineJson, store: Store, options: UiOptions): Html {
  const events = store.machines.events(machine.id, { limit: 50 });
  const verdict = options.verdict?.(machine.id);
  return html`<dl class="facts">
<dt>State</dt><dd><span class="state ${tone(machine.state)}">${machine.state}</span>${machine.stateReason ? html` — ${machine.stateReason}` : raw('')}${machine.maintenance ? html` <strong>(maintenance: no boot answers)</strong>` : raw('')}</dd>
<dt>Power</dt><dd>${machine.power ?? '–'}</dd>
<dt>Type / profile</dt><dd>${machine.serverType ?? '–'} / ${machine.profile ?? '–'}</dd>
<dt>System</dt><dd>${[machine.system.manufacturer, machine.system.model, machine.system.serial].filter(Boolean).join(' · ') || '–'}</dd>
<dt>CPU / memory</dt><dd>${machine.cpu.count ?? '–'} × ${machine.cpu.model ?? '–'}, ${machine.cpu.cores ?? '–'} cores · ${machine.memory.totalGiB ?? '–'} GiB</dd>
<dt>BMC</dt><dd>${machine.bmc ? `${machine.bmc.mac} ${machine.bmc.ip ?? ''} over ${BMC_PROTOCOL_NAMES[machine.bmc.protocol]} ${machine.bmc.model ?? ''} ${machine.bmc.firmware ?? ''}` : 'none'}</dd>
<dt>NICs</dt><dd>${machine.nics.map((nic) => html`${nic.mac} ${nic.name ?? ''} ${nic.speedMbps ? `${nic.speedMbps} Mb/s` : ''}<br>`)}</dd>
<dt>Drives</dt><dd>${machine.drives.length === 0 ? '–' : machine.drives.map((drive) => html`${drive.name ?? ''} ${drive.model ?? ''} ${drive.capacityBytes ? `${(drive.capacityBytes / 1e9).toFixed(0)} GB` : ''}<br>`)}</dd>
${machine.warnings.length > 0 ? html`<dt>Warnings</dt><dd>${machine.warnings.map((warning) => html`${warning}<br>`)}</dd>` : raw('')}
</dl>
<h2>Latest boot</h2>
${bootBar(events)}
${verdict ? verdictHtml(verdict) : raw('')}
<h2>Timeline</h2>
<div class="scroll"><table>
<thead><tr><th>Time</th><th>Change</th><th>Event</th></tr></thead>
<tbody>${[...events]
    .reverse()
    .map(
      (event) =>
        html`<tr><td><time datetime="${event.at}">${event.at.replace('T', ' ').slice(0, 19)}</time></td><td>${event.fromState !== event.toState ? `${event.fromState ?? ''} → ${event.toState ?? ''}` : ''}</td><td>${event.message}${event.data && (event.data as { count?: number }).count && (event.data as { count: number }).count > 1 ? ` (×${(event.data as { count: number }).count})` : ''}</td></tr>`,
    )}</tbody>
</table></div>`;
}

const BOOT_STEPS: ReadonlyArray<[string, RegExp]> = [
  ['DHCP', /^boot\.dhcp$/],
  ['TFTP', /^boot\.tftp$/],
  ['script', /^boot\.script$/],
  ['kernel', /^boot\.kernel$/],
  ['initrd', /^boot\.initrd$/],
  ['callback', REPORTS_BACK],
];

/** DHCP → TFTP → script → kernel → initrd → callback of the latest boot, each segment as long as the seconds to the next step. */
function bootBar(events: readonly MachineEventJson[]): Html {
  const bootish = (event: MachineEventJson) => BOOT_STEPS.some(([, pattern]) => pattern.test(event.type)) || event.type.startsWith('boot.');
  const last = events.findLastIndex(bootish);
  if (last < 0) return html`<p>No network boot recorded yet.</p>`;
  let begin = last;
  while (begin > 0 && bootish(events[begin - 1]!)) begin--;
  const firsts: Array<{ step: string; at: number }> = [];
  for (const [step, pattern] of BOOT_STEPS) {
    const found = events.slice(begin, last + 1).find((event) => pattern.test(event.type));
    if (found) firsts.push({ step, at: Date.parse(found.at) });
  }
  if (firsts.length === 0) return html`<p>No network boot recorded yet.</p>`;
  firsts.sort((x, y) => x.at - y.at);
  const total = Math.max(1, (firsts.at(-1)!.at - firsts[0]!.at) / 1000);
  return html`<div class="timeline" role="img" aria-label="${firsts.map((first) => `${first.step} at +${((first.at - firsts[0]!.at) / 1000).toFixed(1)} s`).join(', ')}">${firsts.map(
    (first, index) => {
      const seconds = ((firsts[index + 1]?.at ?? first.at) - first.at) / 1000;
      return html`<span style="flex:${Math.max(seconds, total / 20).toFixed(2)}" title="${first.step}: ${seconds.toFixed(1)} s">${first.step}${index < firsts.length - 1 ? ` ${seconds.toFixed(1)} s` : ''}</span>`;
    },
  )}</div>`;
}

function verdictHtml(verdict: BootVerdict): Html {
  return html`<section class="verdict" aria-label="boot verdict">
<p><strong>${verdict.verdict}</strong></p>
<ul>${verdict.steps.map(
    (step) =>
      html`<li class="${step.ok === true ? 'ok' : step.ok === false ? 'bad' : ''}">${step.ok === true ? '✓' : step.ok === false ? '✗' : '·'} ${step.step}: ${step.detail}</li>`,
  )}</ul>
${verdict.causes.length > 0 ? html`<p>Likely causes:</p><ul>${verdict.causes.map((cause) => html`<li>${cause.cause}<br><small>fix: ${cause.fix}</small></li>`)}</ul>` : raw('')}
</section>`;
}

function tone(state: MachineState): 'ok' | 'bad' | 'busy' | 'idle' {
  if ((FAILED_STATES as readonly string[]).includes(state)) return 'bad';
  if (state === 'ready' || state === 'active' || state === 'provisioned') return 'ok';
  if ((STABLE_STATES as readonly string[]).includes(state)) return 'idle';
  return 'busy';
}

function comparator(sort: Sort): (a: MachineJson, b: MachineJson) => number {
  const by: Record<Sort, (machine: MachineJson) => string | number> = {
    state: (machine) => machine.state,
    type: (machine) => machine.serverType ?? '',
    model: (machine) => machine.system.model ?? '',
    cpus: (machine) => machine.cpu.cores ?? -1,
    memory: (machine) => machine.memory.totalGiB ?? -1,
    updated: (machine) => machine.updatedAt,
  };
  const key = by[sort];
  return (a, b) => {
    const [x, y] = [key(a), key(b)];
    return x < y ? -1 : x > y ? 1 : a.id.localeCompare(b.id);
  };
}

function machineOf(store: Store, id: string): MachineJson | null {
  const ref = parseMachineRef(id);
  if (ref === null) return null;
  try {
    return store.machines.resolve(ref);
  } catch (error) {
    if (isMetalboxError(error, 'E_NOT_FOUND')) return null;
    throw error;
  }
}

function cookieOf(request: FastifyRequest): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name === COOKIE) return value.join('=');
  }
  return undefined;
}

/** After a POST: back to a page (Post/Redirect/Get, so a reload repeats nothing), which shows what happened once. */
function back(reply: FastifyReply, session: UiSession, to: string, message: string): FastifyReply {
  session.flash = message.slice(0, 300);
  return reply.code(303).header('location', to).send();
}

/** The last action's message, once. */
function flashOf(session: UiSession): Html {
  const message = session.flash;
  session.flash = undefined;
  return message === undefined ? raw('') : html`<p class="flash" role="status">${message}</p>`;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
