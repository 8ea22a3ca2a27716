import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import type { MachineJson } from '../../src/store/index.js';
import { prepareDataDir, Store } from '../../src/store/index.js';
import { claimAddress, moveTo, seedMachine, startServe, tempDir } from '../helpers.js';

/** Debian's chromium (scripts/install-deps installs it); playwright-core drives it and downloads no browser. */
const CHROMIUM = '/usr/bin/chromium';
/** Screenshots of each run, kept as test artefacts (docs/screenshots holds the ones the README shows). */
const ARTEFACTS = 'test-artifacts/ui';

test('the console: login, the fleet live, a machine page and an action, escaped BMC text, CSRF, 1280 and 390 px, keyboard', async (t) => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run scripts/install-deps (it installs Debian's chromium)`);
  const dataDir = join(tempDir(t), 'data');
  prepareDataDir(dataDir);
  const store = Store.open(dataDir);
  const ready = seedMachine(store, '94:40:c9:00:06:01', '52:54:00:77:06:01', { state: 'ready' });
  const installed = seedMachine(store, '94:40:c9:00:06:02', '52:54:00:77:06:02', { state: 'provisioned' });
  const failed = seedMachine(store, '94:40:c9:00:06:03', '52:54:00:77:06:03');
  moveTo(store, failed, 'bmc_unreachable', { reason: 'http://192.0.2.5: ECONNREFUSED' });
  // The provisioned machine's last boot, as metalbox records one (seconds after 10:00:00).
  const at = (seconds: number) => new Date(Date.parse('2026-12-07T10:00:00.000Z') + seconds * 1000).toISOString();
  store.machines.appendEvents(
    (
      [
        ['boot.dhcp', 0, 'ProxyDHCP offer: undionly.kpxe'],
        ['boot.tftp', 2.1, 'TFTP sent undionly.kpxe'],
        ['boot.dhcp', 5, 'ProxyDHCP offer: http://10.77.0.1:8080/boot.ipxe'],
        ['boot.script', 5.3, 'iPXE script: install profile debian'],
        ['boot.kernel', 6, 'HTTP sent kernel debian/linux'],
        ['boot.initrd', 9.5, 'HTTP sent initrd debian/initrd.gz'],
        ['callback', 280, 'installer reported installed'],
      ] as const
    ).map(([type, seconds, message]) => ({ machineId: installed, type, message, at: at(seconds) })),
  );
  const booting = seedMachine(store, '94:40:c9:00:06:04', '52:54:00:77:06:04', { profile: 'lab', state: 'preparing' });
  // A BMC that reports markup as its serial: shown as text, never run.
  store.db.prepare('UPDATE machines SET serial = ? WHERE id = ?').run('<img src=x onerror=alert(1)>', ready);
  store.close();
  const config = join(dataDir, '..', 'metalbox.yaml');
  writeFileSync(config, 'profiles:\n  lab: { kernel: http://mirror.example/vmlinuz }\n');
  const serve = await startServe(t, ['--data-dir', dataDir, '--config', config]);
  const token = readFileSync(join(dataDir, 'api-token'), 'utf8').trim();
  mkdirSync(ARTEFACTS, { recursive: true });

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  t.after(() => browser.close());
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const dialogs: string[] = [];
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });

  // Login: the console sends an unknown browser to the login page; a wrong token is refused.
  await page.goto(`${serve.url}/ui/`);
  assert.equal(new URL(page.url()).pathname, '/ui/login');
  await page.fill('#token', 'not-the-token');
  await page.click('button:has-text("Log in")');
  assert.match((await page.textContent('[role=alert]')) ?? '', /not the API token/);
  await page.fill('#token', token);
  await page.click('button:has-text("Log in")');
  assert.equal(new URL(page.url()).pathname, '/ui/');
  const [cookie] = await context.cookies();
  assert.deepEqual([cookie?.name, cookie?.httpOnly, cookie?.sameSite], ['mbx_session', true, 'Strict']);
  assert.notEqual(cookie?.value, token, 'the browser keeps a session id, not the token');

  // The fleet: four machines, counts by state, the failed one's state.
  assert.equal(await page.locator('tbody tr').count(), 4);
  assert.equal(await page.textContent('section[aria-label="machines by state"] p'), '4 machines');
  // Its state, and its last event (moveTo names each step's event after the state it enters).
  const failedRow = page.locator('tbody tr', { hasText: failed });
  assert.equal(await failedRow.locator('.state').textContent(), 'bmc_unreachable');
  assert.equal(await failedRow.locator('td:last-child small').textContent(), 'bmc_unreachable');
  await page.screenshot({ path: join(ARTEFACTS, 'fleet-1280.png'), fullPage: true });

  // Live, without a reload: a booting machine's own PXE request moves it from preparing to
  // netbooting (EDK2's request on the PXE port, as the lab's OVMF sends it), and the API
  // sets another's maintenance flag.
  const bootingRow = page.locator('tbody tr', { hasText: booting });
  assert.equal(await bootingRow.locator('.state').textContent(), 'preparing');
  await claimAddress(serve, '127.0.0.1', '52:54:00:77:06:04');
  await bootingRow.locator('.state', { hasText: 'netbooting' }).waitFor({ timeout: 10_000 });
  await serve.fetch(`/api/v1/machines/${installed}/maintenance`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ on: true }),
  });
  await page
    .locator('tbody tr', { hasText: installed })
    .locator('td:nth-child(2) small', { hasText: /^maintenance$/ })
    .waitFor({ timeout: 10_000 });

  // The other pages: observations and the catalog, from the header's links.
  await page.click('nav a:has-text("Observations")');
  assert.equal(await page.textContent('h1'), 'Observations');
  await page.click('nav a:has-text("Profiles and types")');
  assert.deepEqual(await page.locator('h1').allTextContents(), ['Profiles', 'Server types']);

  // Keyboard: Tab reaches a machine's link, Enter opens its page.
  await page.goto(`${serve.url}/ui/`);
  let focused = '';
  for (let presses = 0; presses < 30 && !focused.startsWith('/ui/machines/'); presses++) {
    await page.keyboard.press('Tab');
    // Expressions as text: they run in the page, and this project compiles without the DOM's types.
    focused = await page.evaluate<string>("document.activeElement?.getAttribute('href') ?? ''");
  }
  assert.match(focused, /^\/ui\/machines\/m-/, 'a machine link is reachable by Tab');
  await page.keyboard.press('Enter');
  await page.waitForURL(/\/ui\/machines\/m-/);

  // The machine in maintenance: its page, then the action that takes it out.
  await page.goto(`${serve.url}/ui/machines/${installed}`);
  assert.match((await page.textContent('dl.facts')) ?? '', /maintenance: no boot answers/);
  // Its boot as a bar: each step from the first DHCP answer (the second DHCP, iPXE's, is not a step of its own).
  assert.equal(
    await page.getAttribute('.timeline', 'aria-label'),
    'DHCP at +0.0 s, TFTP at +2.1 s, script at +5.3 s, kernel at +6.0 s, initrd at +9.5 s, callback at +280.0 s',
  );
  await page.screenshot({ path: join(ARTEFACTS, 'machine-1280.png'), fullPage: true });
  await page.click('button:has-text("Maintenance off")');
  assert.equal(await page.textContent('[role=status]'), 'out of maintenance');
  await page.reload();
  assert.equal(await page.locator('[role=status]').count(), 0, 'the message shows once, and a reload repeats nothing');
  // Messages come from the session, never from the URL: a link cannot put words on the page.
  await page.goto(`${serve.url}/ui/machines/${installed}?done=call+0800-FAKE`);
  assert.equal(await page.locator('[role=status]').count(), 0);
  const machine = (await (await serve.fetch(`/api/v1/machines/${installed}`)).json()) as MachineJson;
  assert.equal(machine.maintenance, false);

  // The hostile serial is text on the ready machine's page, and nothing ran.
  await page.goto(`${serve.url}/ui/machines/${ready}`);
  assert.match((await page.textContent('dl.facts')) ?? '', /<img src=x onerror=alert\(1\)>/);
  assert.deepEqual(dialogs, []);

  // CSRF: a POST without the session's form token changes nothing.
  const forged = await page.evaluate(
    async (id) =>
      (
        await fetch(`/ui/machines/${id}/actions`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: 'action=delete',
        })
      ).status,
    ready,
  );
  assert.equal(forged, 403);
  assert.equal((await serve.fetch(`/api/v1/machines/${ready}`)).status, 200);

  // 390 px: nothing wider than the screen but the tables, which scroll in their own box.
  await page.setViewportSize({ width: 390, height: 844 });
  for (const [path, name] of [
    ['/ui/', 'fleet-390'],
    [`/ui/machines/${failed}`, 'machine-390'],
  ] as const) {
    await page.goto(`${serve.url}${path}`);
    assert.ok((await page.evaluate<number>('document.documentElement.scrollWidth')) <= 390, `${path} fits 390 px`);
    await page.screenshot({ path: join(ARTEFACTS, `${name}.png`), fullPage: true });
  }

  // Logout ends the session: the next page is the login.
  await page.goto(`${serve.url}/ui/`);
  await page.click('button:has-text("Log out")');
  await page.goto(`${serve.url}/ui/`);
  assert.equal(new URL(page.url()).pathname, '/ui/login');
});
