#!/usr/bin/env node
// End-to-end test of the playground in headless Debian chromium, driven by playwright-core.
//
// It starts target/debug/photoshare itself on a free loopback port, once per mode:
//   embedded  the embedded store in a fresh temp directory
//   aws       DynamoDB + S3 stand-ins (moto + SeaweedFS, as tests/run.sh starts them: it exports
//             PHOTOSHARE_TEST_DYNAMODB_ENDPOINT, PHOTOSHARE_TEST_S3_ENDPOINT and the AWS_* settings), with the
//             events engine when PHOTOSHARE_TEST_EVENTS_URL is set (redis-server, also from tests/run.sh)
// and in each clicks through the app as a user would: empty gallery, photos appearing live, upload errors,
// an upload with progress, the gallery and its infinite scroll, search by name and by day, the photo page,
// live comments in a second page (also across a dropped WebSocket), a share link, the GraphiQL link.
// Screenshots of every page go to tests/e2e/artifacts/<mode>/ (git-ignored), with the server's log.
//
//   node tests/e2e/playground.mjs            both modes (aws only when the stand-ins' variables are set)
//   PHOTOSHARE_E2E_MODES=embedded node …     one mode
//   PHOTOSHARE_BIN=path/to/photoshare        another binary (default: $CARGO_TARGET_DIR or target, /debug/photoshare)
//   PHOTOSHARE_CHROMIUM=/usr/bin/chromium    the browser
// Exits non-zero when any step fails; the last line reads `e2e: N passed, M failed`.

import { spawn, execFileSync } from 'node:child_process';
import zlib from 'node:zlib';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

import { galleryWithApollo } from './apollo.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN =
  process.env.PHOTOSHARE_BIN ?? path.resolve(ROOT, process.env.CARGO_TARGET_DIR ?? 'target', 'debug/photoshare');
const CHROMIUM = process.env.PHOTOSHARE_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = path.join(ROOT, 'tests/e2e/artifacts');
const PIER = await fs.readFile(path.join(ROOT, 'tests/fixtures/pier.jpg'));
const SMALL_PNG = await fs.readFile(path.join(ROOT, 'tests/fixtures/small.png'));

/** The browser's zone: +05:30, so local days and times differ from UTC ones, by a half hour too. */
const TIME_ZONE = 'Asia/Kolkata';
const LOCALE = 'en-GB';
/** The servers accept files up to this size, so the "too large" message can be tried with a small file. */
const MAX_UPLOAD_BYTES = 65536;
/** The gallery's page size (playground/app/gallery.js): this many photos plus one make a second page. */
const GALLERY_PAGE = 24;
const WAIT_MS = 15000;

const results = [];
const running = new Set(); // server processes to stop if we are interrupted

// ---------------------------------------------------------------------------------------------------------
// Small helpers

function log(...parts) {
  console.log('[e2e]', ...parts);
}

async function freePort() {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

/** Polls `probe` until it returns a truthy value; fails with `what` after `timeout`. */
async function until(what, probe, timeout = WAIT_MS) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await probe();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${last})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Local calendar parts of an instant in TIME_ZONE. */
function localParts(iso, options) {
  return new Intl.DateTimeFormat('en-CA', { timeZone: TIME_ZONE, ...options }).format(new Date(iso));
}

/** `YYYY-MM-DD` of an instant in TIME_ZONE, shifted by `days`. */
function localDay(iso, days = 0) {
  const day = localParts(iso, { year: 'numeric', month: '2-digit', day: '2-digit' });
  const shifted = new Date(`${day}T12:00:00Z`);
  shifted.setUTCDate(shifted.getUTCDate() + days);
  return shifted.toISOString().slice(0, 10);
}

// ---------------------------------------------------------------------------------------------------------
// The API, from the test's side (for setup and to check what the page shows)

async function gql(base, query, variables = {}) {
  const response = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(`GraphQL error: ${JSON.stringify(body.errors)}`);
  return body.data;
}

/**
 * A phone-sized PNG (`width` x `height`) that compresses to a few KB (so it fits the test server's upload
 * limit) but is as costly as a photo as a JPEG: coloured 64 px squares under a grain of noise that repeats
 * (which deflate finds, and JPEG cannot use).
 */
function detailedPng(width, height, seed) {
  const grain = Array.from({ length: 97 }, (_, i) => ((i * 7919 + seed * 104729) % 33) - 16);
  const clamp = (v) => Math.max(0, Math.min(255, v));
  // Rows change every 6 (the grain shifts); a repeated row is stored as its difference from the one above
  // (filter Up: zeros), a changed one as itself (it repeats the last changed row, shifted, within deflate's window).
  const pixelsOf = (y) => {
    const pixels = Buffer.alloc(width * 3);
    for (let x = 0; x < width; x++) {
      const square = (Math.floor(x / 64) + Math.floor(y / 64) + seed) % 5;
      const noise = grain[(x + 5 * Math.floor(y / 6)) % 97];
      pixels[x * 3] = clamp(((square * 53 + seed * 7) & 255) + noise);
      pixels[x * 3 + 1] = clamp(((square * 97) & 255) + noise);
      pixels[x * 3 + 2] = clamp(square * 31 + 90 + noise);
    }
    return pixels;
  };
  const raw = [];
  for (let y = 0; y < height; y++) {
    const line = Buffer.alloc(1 + width * 3);
    if (y % 6 === 0) pixelsOf(y).copy(line, 1);
    else line[0] = 2;
    raw.push(line);
  }
  const chunk = (type, data) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', zlib.deflateSync(Buffer.concat(raw), { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** The most image bytes a gallery page of 24 phone-sized photos may transfer (issue 15). */
const GALLERY_IMAGE_BUDGET = 1.5e6;

/** The upload flow without a browser: ticket, POST to storage, complete. */
async function uploadViaApi(base, name, bytes, contentType) {
  const { createUpload: ticket } = await gql(
    base,
    `mutation($input: CreateUploadInput!) { createUpload(input: $input) { uploadId url fields { name value } } }`,
    { input: { fileName: `${name}.png`, contentType, name } },
  );
  const form = new FormData();
  for (const { name: field, value } of ticket.fields) form.append(field, value);
  form.append('file', new Blob([bytes], { type: contentType }), `${name}.png`);
  const stored = await fetch(ticket.url, { method: 'POST', body: form });
  check(stored.ok, `storage refused ${name}: ${stored.status} ${await stored.text()}`);
  const { completeUpload } = await gql(base, `mutation($id: ID!) { completeUpload(uploadId: $id) { id } }`, {
    id: ticket.uploadId,
  });
  return completeUpload.id;
}

async function addCommentViaApi(base, photoId, body) {
  const { addComment } = await gql(
    base,
    `mutation($input: AddCommentInput!) { addComment(input: $input) { id cursor } }`,
    {
      input: { photoId, body },
    },
  );
  return addComment;
}

// ---------------------------------------------------------------------------------------------------------
// The server under test

async function startServer(mode, dir) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  let storeArgs;
  let dataDir = null;
  if (mode === 'embedded') {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'photoshare-e2e-'));
    storeArgs = ['--store', 'embedded', '--data-dir', dataDir];
  } else {
    const { PHOTOSHARE_TEST_DYNAMODB_ENDPOINT: dynamodb, PHOTOSHARE_TEST_S3_ENDPOINT: s3 } = process.env;
    check(
      dynamodb && s3,
      'aws mode needs PHOTOSHARE_TEST_DYNAMODB_ENDPOINT and PHOTOSHARE_TEST_S3_ENDPOINT (run ./tests/run.sh)',
    );
    const unique = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
    storeArgs = [
      '--store',
      'aws',
      '--table',
      `e2e-${unique}`,
      '--bucket',
      `e2e-${unique}`,
      '--dynamodb-endpoint',
      dynamodb,
      '--s3-endpoint',
      s3,
      '--s3-path-style',
      'true',
    ];
    execFileSync(BIN, [...storeArgs, 'setup'], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60000 });
    // With tests/run.sh's redis-server, the AWS run hears its events through the engine (the table feed is
    // covered by the integration suite).
    if (process.env.PHOTOSHARE_TEST_EVENTS_URL) storeArgs.push('--events-url', process.env.PHOTOSHARE_TEST_EVENTS_URL);
  }
  // The test seeds dozens of photos from one address: no mutation rate limit here.
  const args = [
    ...storeArgs,
    '--listen',
    `127.0.0.1:${port}`,
    '--max-upload-bytes',
    String(MAX_UPLOAD_BYTES),
    '--mutations-per-minute',
    '0',
    '--processing-jobs',
    '2',
  ];
  const logFile = await fs.open(path.join(dir, 'server.log'), 'w');
  const child = spawn(BIN, args, { stdio: ['ignore', logFile.fd, logFile.fd], env: { ...process.env, NO_COLOR: '1' } });
  running.add(child);
  const exited = once(child, 'exit').then(([code, signal]) => {
    running.delete(child);
    return { code, signal };
  });
  let gone = null;
  exited.then((status) => (gone = status));
  const stop = async () => {
    if (!gone) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
    await exited;
    clearTimeout(timer);
    await logFile.close();
    if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
  };
  try {
    await until(
      `${base}/healthz`,
      async () => {
        if (gone) throw new Error(`photoshare exited during startup (${JSON.stringify(gone)}); see ${dir}/server.log`);
        return (await fetch(`${base}/healthz`)).ok;
      },
      30000,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { base, stop };
}

// ---------------------------------------------------------------------------------------------------------
// One mode: every step in order. A failing step is recorded and the next steps still run, except after a
// step marked `needed` (nothing after it can work without what it made).

async function runMode(browser, mode) {
  const dir = path.join(ARTIFACTS, mode);
  await fs.rm(dir, { recursive: true, force: true });
  await fs.mkdir(dir, { recursive: true });
  let shots = 0;
  const shot = async (page, name, options = {}) => {
    if (options.fullPage) await page.evaluate(() => window.scrollTo(0, 0)); // the sticky header at the top
    await page.screenshot({ path: path.join(dir, `${String(++shots).padStart(2, '0')}-${name}.png`), ...options });
  };

  // The port is picked free then bound by the server: if something takes it in between, try another.
  let server;
  for (let attempt = 1; !server; attempt++) {
    try {
      server = await startServer(mode, dir);
    } catch (error) {
      if (attempt === 3) throw error;
      log(`${mode}: startup failed (${error.message}); trying another port`);
    }
  }
  log(`${mode}: photoshare at ${server.base} (log: ${path.relative(ROOT, dir)}/server.log)`);
  const { base } = server;
  const pageErrors = [];
  const contexts = [];
  const newPage = async (label, contextOptions = {}) => {
    const context = await browser.newContext({
      viewport: { width: 1280, height: 860 },
      locale: LOCALE,
      timezoneId: TIME_ZONE,
      ...contextOptions,
    });
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT_MS);
    page.on('pageerror', (error) => pageErrors.push(`${label}: ${error.message}`));
    // A Content-Security-Policy refusal is a console error, not a page error.
    page.on('console', (message) => {
      if (message.type() === 'error' && /Content Security Policy/i.test(message.text()))
        pageErrors.push(`${label}: ${message.text()}`);
    });
    return page;
  };

  let stopped = false;
  const step = async (name, body, { needed = false } = {}) => {
    if (stopped) {
      results.push({ mode, name, status: 'skipped' });
      log(`  - ${name} (skipped: an earlier step it needs failed)`);
      return;
    }
    const started = Date.now();
    try {
      await body();
      results.push({ mode, name, status: 'passed' });
      log(`  ✓ ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    } catch (error) {
      results.push({ mode, name, status: 'failed', error });
      log(
        `  ✗ ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)\n      ${String(error?.message ?? error)
          .split('\n')
          .join('\n      ')}`,
      );
      for (const [i, context] of contexts.entries()) {
        for (const [j, page] of context.pages().entries()) {
          await page
            .screenshot({ path: path.join(dir, `failed-${name.replace(/\W+/g, '-')}-${i}-${j}.png`) })
            .catch(() => {});
        }
      }
      if (needed) stopped = true;
    }
  };

  try {
    const pageA = await newPage('page A', { permissions: ['clipboard-read', 'clipboard-write'] });
    const cards = pageA.locator('.photo-card');
    const nav = (name) => pageA.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });
    /** Submits the search form and waits for the new results: a note (end, empty, error) or a "More" button. */
    const submitSearch = async () => {
      await pageA.locator('.grid').evaluate((grid) => (grid.dataset.stale = 'yes'));
      await pageA.getByRole('button', { name: 'Search' }).click();
      const status = pageA.locator('.grid:not([data-stale]) ~ .gallery-status');
      const more = pageA.locator('.grid:not([data-stale]) ~ button.more');
      await status.locator('.end, .empty, .alert').or(more).first().waitFor();
      const error = status.locator('.alert');
      if (await error.count()) throw new Error(`the page shows: ${await error.innerText()}`);
    };
    let photoId;
    let uploadedAt;

    await step('the gallery starts empty and says so', async () => {
      await pageA.goto(`${base}/`);
      await pageA.getByText('No photos yet.').waitFor();
      check((await pageA.locator('a[href="/graphiql"]').count()) > 0, 'the page links to /graphiql');
      await shot(pageA, 'gallery-empty');
    });

    await step(
      `photos uploaded elsewhere appear in the open gallery (photoAdded), ${GALLERY_PAGE} of them`,
      async () => {
        await pageA.locator('.grid[data-live="subscribed"][data-updates="subscribed"]').waitFor({ state: 'attached' });
        const asked = [];
        const record = (request) => {
          if (request.method() === 'POST' && request.url().endsWith('/graphql')) {
            asked.push(JSON.parse(request.postData() ?? '{}').query?.match(/^\s*(\w+ \w+)/)?.[1]);
          }
        };
        pageA.on('request', record);
        for (let i = 1; i <= GALLERY_PAGE; i++) {
          await uploadViaApi(base, `Filler ${String(i).padStart(2, '0')}`, SMALL_PNG, 'image/png');
        }
        await until(`${GALLERY_PAGE} cards`, async () => (await cards.count()) === GALLERY_PAGE);
        check((await cards.first().innerText()).includes(`Filler ${GALLERY_PAGE}`), 'the newest photo comes first');
        check((await pageA.getByText('No photos yet.').count()) === 0, 'the empty note is gone');
        // They arrive PROCESSING; photoUpdated turns each card READY, with its thumbnail, without asking again.
        await pageA.waitForFunction(
          (count) =>
            document.querySelectorAll('.thumb.processing').length === 0 &&
            [...document.querySelectorAll('.photo-card img')].filter((i) => i.complete && i.naturalWidth > 0).length ===
              count,
          GALLERY_PAGE,
        );
        pageA.off('request', record);
        check(asked.length === 0, `the page asked for nothing while photos were processed: ${asked.join(', ')}`);
        await shot(pageA, 'gallery-live');
      },
      { needed: true },
    );

    await step('upload refuses a file that is not an image, with a clear message', async () => {
      await nav('Upload').click();
      await pageA.locator('input[type=file]').setInputFiles({
        name: 'notes.jpg',
        mimeType: 'image/jpeg',
        buffer: Buffer.from('just some text, not a photo\n'),
      });
      await pageA.getByRole('button', { name: 'Upload', exact: true }).click();
      await pageA.locator('.alert.error', { hasText: '“notes.jpg” is not a JPEG or PNG image' }).waitFor();
      await shot(pageA, 'upload-not-an-image');
    });

    await step('upload refuses a file over maxBytes, with a clear message', async () => {
      const big = Buffer.alloc(MAX_UPLOAD_BYTES + 4096);
      Buffer.from([0xff, 0xd8, 0xff, 0xe0]).copy(big);
      await pageA.locator('input[type=file]').setInputFiles({ name: 'huge.jpg', mimeType: 'image/jpeg', buffer: big });
      await pageA.getByRole('button', { name: 'Upload', exact: true }).click();
      await pageA
        .locator('.alert.error', {
          hasText: '“huge.jpg” is too large: 68.0 KB; the largest photo accepted is 64.0 KB.',
        })
        .waitFor();
      await shot(pageA, 'upload-too-large');
    });

    await step(
      'uploads pier.jpg through the page, with progress',
      async () => {
        await pageA.locator('input[type=file]').setInputFiles(path.join(ROOT, 'tests/fixtures/pier.jpg'));
        check((await pageA.getByLabel('Name').inputValue()) === 'pier', 'the name defaults to the file name');
        await pageA.getByLabel('Name').fill('Sunset at the pier');
        await pageA.getByLabel('Description').fill('Long exposure, <b>not bold</b>');
        await pageA.getByRole('button', { name: 'Upload', exact: true }).click();
        const done = pageA.locator('.alert.success', { hasText: 'Uploaded “Sunset at the pier”.' });
        await done.waitFor();
        check(
          (await pageA.locator('.progress-row progress').evaluate((p) => p.value)) === 100,
          'the progress bar is full',
        );
        await pageA.locator('.progress-text', { hasText: 'Done: 100%' }).waitFor();
        const href = await done.locator('a.view-photo').getAttribute('href');
        photoId = decodeURIComponent(href.replace('#/photo/', ''));
        // Its renditions are made in a moment: then it is READY, 64x48 as pier.jpg is.
        const photo = await until('the photo to be READY', async () => {
          const { photo } = await gql(
            base,
            'query($id: ID!) { photo(id: $id) { name status width height uploadedAt uploaderIp } }',
            { id: photoId },
          );
          return photo?.status === 'READY' ? photo : null;
        });
        check(photo.width === 64 && photo.height === 48, `the stored photo is pier.jpg (${JSON.stringify(photo)})`);
        uploadedAt = photo.uploadedAt;
        await shot(pageA, 'upload-done');
      },
      { needed: true },
    );

    await step(`the gallery shows it first, ${GALLERY_PAGE} a page, and loads more on scroll`, async () => {
      await nav('Gallery').click();
      await until(`${GALLERY_PAGE} cards`, async () => (await cards.count()) === GALLERY_PAGE);
      check((await cards.first().locator('.name').innerText()) === 'Sunset at the pier', 'the new photo is first');
      await pageA.waitForFunction(() =>
        [...document.querySelectorAll('.photo-card img')].slice(0, 5).every((i) => i.complete && i.naturalWidth > 0),
      );
      // Cards load renditions the service made (THUMBNAIL, or PREVIEW from the srcset), never the original.
      const loaded = await pageA.evaluate(() =>
        [...document.querySelectorAll('.photo-card img')].slice(0, 5).map((i) => new URL(i.currentSrc).pathname),
      );
      check(
        loaded.every((p) => /\/renditions\/[0-9a-f-]+\/(thumbnail|preview)\.jpg$/.test(p)),
        `cards show renditions: ${loaded.join(', ')}`,
      );
      await shot(pageA, 'gallery');
      await pageA.getByRole('button', { name: 'More photos' }).scrollIntoViewIfNeeded();
      await until(`${GALLERY_PAGE + 1} cards`, async () => (await cards.count()) === GALLERY_PAGE + 1);
      await pageA.getByText('That is every photo.').waitFor();
      check(await pageA.getByRole('button', { name: 'More photos' }).isHidden(), 'no more pages');
      await shot(pageA, 'gallery-scrolled');
    });

    await step('search finds it by a word of its name', async () => {
      await pageA.evaluate(() => window.scrollTo(0, 0));
      await pageA.getByLabel('Name words').fill('pier');
      await submitSearch();
      await pageA.getByRole('heading', { name: 'Search results' }).waitFor();
      await pageA.getByText('That is every match.').waitFor();
      check((await cards.count()) === 1, `one match, not ${await cards.count()}`);
      check((await cards.first().locator('.name').innerText()) === 'Sunset at the pier', 'the match is the pier');
      await shot(pageA, 'search-name');
    });

    await step('a search without results says so', async () => {
      await pageA.getByLabel('Name words').fill('zebra');
      await submitSearch();
      await pageA.locator('.empty', { hasText: 'No photos matching “zebra”.' }).waitFor();
      check((await cards.count()) === 0, 'no cards');
      await shot(pageA, 'search-empty');
    });

    await step(`search finds it by today's date range (${TIME_ZONE}), and not by the days around`, async () => {
      const today = localDay(uploadedAt);
      const search = async (from, to) => {
        await pageA.getByLabel('Name words').fill('');
        await pageA.getByLabel('Uploaded from (day)').fill(from);
        await pageA.getByLabel('Uploaded to (day)').fill(to);
        await submitSearch();
        const hash = await pageA.evaluate(() => location.hash);
        check(hash === `#/?from=${from}&to=${to}`, `the search is in the hash: ${hash}`);
      };
      await search(today, today);
      await pageA.locator('.photo-card .name', { hasText: 'Sunset at the pier' }).waitFor();
      check((await cards.first().locator('.name').innerText()) === 'Sunset at the pier', 'newest first');
      await shot(pageA, 'search-today');
      for (const day of [localDay(uploadedAt, -1), localDay(uploadedAt, +1)]) {
        await search(day, day);
        await pageA.locator('.empty', { hasText: 'No photos uploaded' }).waitFor();
      }
      await shot(pageA, 'search-other-day');
    });

    await step(
      'the photo page shows the photo, its name, description, uploader IP and local upload time',
      async () => {
        await pageA.goto(`${base}/#/`);
        await pageA.locator('.photo-card', { hasText: 'Sunset at the pier' }).click();
        await pageA.locator('.photo-name', { hasText: 'Sunset at the pier' }).waitFor();
        check(
          decodeURIComponent(await pageA.evaluate(() => location.hash)) === `#/photo/${photoId}`,
          'the hash names the photo',
        );
        check((await pageA.locator('.uploader-ip').innerText()) === '127.0.0.1', 'uploader IP');
        const time = pageA.locator('.uploaded-at');
        check((await time.getAttribute('datetime')) === uploadedAt, 'the time element carries the API value');
        const text = await time.innerText();
        const clock = localParts(uploadedAt, {
          hour: '2-digit',
          minute: '2-digit',
          second: '2-digit',
          hourCycle: 'h23',
        });
        const date = new Intl.DateTimeFormat(LOCALE, {
          timeZone: TIME_ZONE,
          day: 'numeric',
          month: 'short',
          year: 'numeric',
        }).format(new Date(uploadedAt));
        check(text.includes(clock) && text.includes(date), `the upload time "${text}" is local: ${date}, ${clock}`);
        const description = pageA.locator('.description');
        check((await description.innerText()) === 'Long exposure, <b>not bold</b>', 'the description is shown as text');
        check((await description.locator('b').count()) === 0, 'no HTML from the description');
        await pageA.waitForFunction(() => document.querySelector('.photo-full')?.naturalWidth === 64);
        await shot(pageA, 'photo', { fullPage: true });
      },
      { needed: true },
    );

    // A second user on the photo page, whose WebSocket the test can cut.
    const pageB = await newPage('page B');
    const sockets = [];
    const sentByB = [];
    await pageB.routeWebSocket(/\/graphql\/ws$/, (ws) => {
      const server = ws.connectToServer();
      sockets.push({ ws, server });
      ws.onMessage((message) => {
        sentByB.push(JSON.parse(message));
        server.send(message);
      });
    });
    let firstComment;

    await step('a comment appears in a second open page at once, as text, with time and IP', async () => {
      await pageB.goto(`${base}/#/photo/${encodeURIComponent(photoId)}`);
      await pageB.locator('.comments[data-live="subscribed"]').waitFor({ state: 'attached' });
      await pageB.evaluate(() => (window.__notReloaded = true));
      const body = 'Lovely light! <img src=x onerror="window.__xss=1">';
      await pageA.getByLabel('Comment').fill(body);
      await pageA.getByRole('button', { name: 'Post comment' }).click();
      for (const page of [pageA, pageB]) {
        const comment = page.locator('.comment', { hasText: 'Lovely light!' });
        await comment.waitFor();
        check((await comment.locator('.comment-body').innerText()) === body, 'the body is shown as typed');
        check((await comment.locator('.ip').innerText()) === '127.0.0.1', 'the author IP');
        check((await comment.locator('time').getAttribute('datetime')) !== null, 'the time');
        check((await page.locator('.comments .count').innerText()) === '(1)', 'the count');
        check(await page.evaluate(() => window.__xss === undefined), 'no script ran from the comment');
      }
      check(await pageB.evaluate(() => window.__notReloaded === true), 'page B was not reloaded');
      const { photo } = await gql(base, 'query($id: ID!) { photo(id: $id) { comments { nodes { id cursor } } } }', {
        id: photoId,
      });
      firstComment = photo.comments.nodes[0];
      await shot(pageA, 'photo-commented', { fullPage: true });
      await shot(pageB, 'photo-second-page', { fullPage: true });
    });

    await step('after a dropped connection, the second page gets what it missed (commentAdded after)', async () => {
      check(firstComment, 'needs the first comment');
      check(sockets.length === 1, `one WebSocket so far, not ${sockets.length}`);
      const { ws, server } = sockets[0];
      await ws.close({ code: 1012, reason: 'e2e: connection dropped' });
      await server.close().catch(() => {});
      // Posted while page B is offline (it waits about a second before reconnecting).
      await addCommentViaApi(base, photoId, 'Posted while you were away (1)');
      await addCommentViaApi(base, photoId, 'Posted while you were away (2)');
      await pageB.locator('.comment', { hasText: 'Posted while you were away (2)' }).waitFor();
      await pageB.locator('#live-state[data-status="live"]').waitFor();
      check((await pageB.locator('.comment').count()) === 3, 'each comment once');
      check(sockets.length >= 2, `page B reconnected (${sockets.length} connections)`);
      const resubscribe = sentByB
        .filter((m) => m.type === 'subscribe' && m.payload.query.includes('commentAdded'))
        .at(-1);
      check(
        resubscribe?.payload.variables.after === firstComment.cursor,
        `resubscribed after the last comment seen (${JSON.stringify(resubscribe?.payload.variables)})`,
      );
      await shot(pageB, 'photo-after-reconnect', { fullPage: true });
    });

    await step('share: a link with copy button and countdown that opens the photo', async () => {
      await pageA.bringToFront();
      await pageA.getByRole('button', { name: 'Create share link' }).click();
      const input = pageA.locator('.share-url');
      const error = pageA.locator('.share .alert');
      await input.or(error).waitFor();
      if (await error.count()) throw new Error(`the page shows: ${await error.innerText()}`);
      const url = await input.inputValue();
      check(/^https?:\/\//.test(url), `a link: ${url}`);
      check((await pageA.locator('a.open-link').getAttribute('href')) === url, 'Open goes to the link');
      const countdown = pageA.locator('.countdown');
      const first = await countdown.innerText();
      check(/^Expires in (1:00|0:[0-5]\d) \(at /.test(first), `a one-minute countdown: "${first}"`);
      await until('the countdown to tick', async () => (await countdown.innerText()) !== first, 5000);
      await pageA.getByRole('button', { name: 'Copy' }).click();
      await pageA.locator('.copied', { hasText: 'Copied!' }).waitFor();
      check((await pageA.evaluate(() => navigator.clipboard.readText())) === url, 'the clipboard holds the link');
      await shot(pageA, 'share', { fullPage: true });
      const response = await fetch(url);
      check(response.ok, `the link answers ${response.status}`);
      const { photo: viewed } = await gql(base, 'query($id: ID!) { photo(id: $id) { url } }', { id: photoId });
      const full = Buffer.from(await (await fetch(viewed.url)).arrayBuffer());
      check(Buffer.from(await response.arrayBuffer()).equals(full), 'the link serves the FULL rendition');
      const shared = await pageA.context().newPage();
      const opened = await shared.goto(url);
      check(opened.ok(), `the browser opens the link (${opened.status()})`);
      await shot(shared, 'share-opened');
      await shared.close();
    });

    await step('Apollo Client with persisted queries over GET reads the gallery', async () => {
      const { photos } = await gql(base, '{ photos(first: 5) { nodes { id } } }');
      const expected = photos.nodes.map((photo) => photo.id);
      const { firstRun, secondRun, requests } = await galleryWithApollo(base, 5);
      check(expected.length > 0, 'photos were uploaded by the earlier steps');
      check(JSON.stringify(firstRun.map((p) => p.id)) === JSON.stringify(expected), 'the same photos as the API');
      check(JSON.stringify(secondRun.map((p) => p.id)) === JSON.stringify(expected), 'the same photos again');
      const wire = requests.map((r) => `${r.method} ${r.hashOnly ? 'hash' : 'query'} ${r.status}`).join(', ');
      // A new hash: a GET by hash alone is not found (a 4xx, as Apollo asks for graphql-response+json), then
      // the query is POSTed with it once; the next client's GET by hash alone is answered, and cacheable.
      check(wire === 'GET hash 400, POST query 200, GET hash 200', `requests: ${wire}`);
      check(requests[2].contentType.startsWith('application/graphql-response+json'), requests[2].contentType);
      check(/^public, max-age=\d+$/.test(requests[2].cacheControl), `Cache-Control: ${requests[2].cacheControl}`);
      check(requests[0].cacheControl === 'no-store', 'a miss is not cacheable');
    });

    await step('the GraphiQL link opens GraphiQL', async () => {
      await nav('GraphiQL').click();
      await pageA.waitForURL(`${base}/graphiql`);
      await pageA.locator('.graphiql-container').waitFor();
      // Its default query runs against /graphql under the page's CSP.
      await pageA.locator('.graphiql-execute-button').click();
      await pageA.locator('.graphiql-response .CodeMirror', { hasText: '"photos"' }).waitFor();
      await shot(pageA, 'graphiql');
    });

    await step('owners: the uploader edits and deletes, another browser cannot until it uses the key', async () => {
      const photoUrl = `${base}/#/photo/${encodeURIComponent(photoId)}`;
      await pageA.goto(photoUrl);
      await pageA.locator('.details').getByRole('button', { name: 'Edit' }).waitFor();
      await pageB.goto(photoUrl);
      await pageB.reload();
      await pageB.locator('.comments[data-live="subscribed"]').waitFor({ state: 'attached' });
      const details = (page) => page.locator('.details');
      check((await details(pageB).getByRole('button').count()) === 0, 'no Edit or Delete for another browser');

      // Page B's own comment is its to delete; page A owns the photo, so it may delete any comment on it.
      await pageB.getByLabel('Comment').fill('Call me at 555-0100');
      await pageB.getByRole('button', { name: 'Post comment' }).click();
      const mine = pageB.locator('.comment', { hasText: 'Call me at 555-0100' });
      await mine.getByRole('button', { name: 'Delete', exact: true }).waitFor();
      const othersInB = pageB.locator('.comment', { hasText: 'Lovely light!' }).getByRole('button');
      check((await othersInB.count()) === 0, "page B cannot delete page A's comment");
      const theirs = pageA.locator('.comment', { hasText: 'Call me at 555-0100' });
      await theirs.getByRole('button', { name: 'Delete', exact: true }).click();
      await shot(pageA, 'comment-delete-confirm', { fullPage: true });
      await theirs.getByRole('button', { name: 'Delete', exact: true }).click();
      await theirs.waitFor({ state: 'detached' });
      await mine.waitFor({ state: 'detached' });

      // An edit shows in both pages (photoUpdated) and moves search to the new name.
      await details(pageA).getByRole('button', { name: 'Edit' }).click();
      await details(pageA).getByLabel('Name').fill('Pier at dusk');
      await details(pageA).getByRole('button', { name: 'Save' }).click();
      await pageA.locator('.photo-name', { hasText: 'Pier at dusk' }).waitFor();
      await pageB.locator('.photo-name', { hasText: 'Pier at dusk' }).waitFor();
      const search = (words) =>
        gql(base, 'query($n: String) { photos(first: 5, filter: { name: $n }) { nodes { id } } }', { n: words });
      check(
        (await search('dusk')).photos.nodes.some((p) => p.id === photoId),
        'search finds the new name',
      );
      check(!(await search('sunset')).photos.nodes.some((p) => p.id === photoId), 'and not the old one');
      await shot(pageA, 'photo-owner', { fullPage: true });

      // The key moves to another browser.
      await pageA.goto(`${base}/#/key`);
      const key = await pageA.getByLabel('Your owner key').inputValue();
      check(/^[A-Za-z0-9_-]{43}$/.test(key), `a 256-bit key (${key.length} characters)`);
      await shot(pageA, 'key');
      await pageB.goto(`${base}/#/key`);
      await pageB.getByLabel('Key to use').fill(key);
      await pageB.getByRole('button', { name: 'Use this key' }).click();
      await pageB.getByText('This browser now uses that key.').waitFor();
      await pageB.goto(photoUrl);
      await details(pageB).getByRole('button', { name: 'Edit' }).waitFor();

      // Deleting: gone for both pages, the gallery, and the links handed out before.
      const { photo: before } = await gql(base, 'query($id: ID!) { photo(id: $id) { url } }', { id: photoId });
      await pageA.goto(photoUrl);
      await details(pageA).getByRole('button', { name: 'Delete photo' }).click();
      await details(pageA).getByRole('button', { name: 'Delete', exact: true }).click();
      await pageA.getByText('Deleted “Pier at dusk”.').waitFor();
      await pageB.getByText('This photo was deleted.').waitFor();
      check((await fetch(before.url)).status !== 200, 'the link handed out before serves nothing');
      const { photo: after } = await gql(base, 'query($id: ID!) { photo(id: $id) { id } }', { id: photoId });
      check(after === null, 'photo(id) is null');
      await shot(pageB, 'photo-deleted');
    });

    await step(`a gallery page of ${GALLERY_PAGE} phone-sized photos transfers under 1.5 MB of images`, async () => {
      const ids = [];
      for (let n = 0; n < GALLERY_PAGE; n++) {
        const png = detailedPng(2000, 1500, n);
        check(png.length < MAX_UPLOAD_BYTES, `the test photo fits the upload limit (${png.length} bytes)`);
        ids.push(await uploadViaApi(base, `Phone ${n}`, png, 'image/png'));
      }
      await until(
        'every phone photo to be READY',
        async () => {
          const { photos } = await gql(base, `{ photos(first: ${GALLERY_PAGE}) { nodes { status } } }`);
          return photos.nodes.every((photo) => photo.status === 'READY');
        },
        120000,
      );
      const { photos } = await gql(base, `{ photos(first: ${GALLERY_PAGE}) { nodes { url } } }`);
      const fullBytes = (await Promise.all(photos.nodes.map((p) => fetch(p.url).then((r) => r.arrayBuffer()))))
        .map((body) => body.byteLength)
        .reduce((a, b) => a + b, 0);
      const page = await newPage('budget');
      const sizes = [];
      page.on('response', async (response) => {
        if (response.request().resourceType() !== 'image' || response.url().startsWith('data:')) return;
        sizes.push(
          response
            .body()
            .then((body) => body.length)
            .catch(() => 0),
        );
      });
      await page.goto(`${base}/`);
      const cards = page.locator('.photo-card');
      await until(`${GALLERY_PAGE} cards`, async () => (await cards.count()) >= GALLERY_PAGE);
      await page.waitForFunction(
        (count) =>
          [...document.querySelectorAll('.photo-card img')]
            .slice(0, count)
            .every((i) => i.complete && i.naturalWidth > 0),
        GALLERY_PAGE,
      );
      const transferred = (await Promise.all(sizes)).reduce((a, b) => a + b, 0);
      log(
        `  gallery images: ${sizes.length} responses, ${(transferred / 1e3).toFixed(0)} KB ` +
          `(the FULL renditions would be ${(fullBytes / 1e6).toFixed(1)} MB)`,
      );
      check(fullBytes > GALLERY_IMAGE_BUDGET, 'the photos are large enough for the budget to mean something');
      check(transferred < GALLERY_IMAGE_BUDGET, `${transferred} bytes of images for one gallery page`);
      await shot(page, 'gallery-phone-photos');
    });

    await step('no script errors in any page', async () => {
      check(pageErrors.length === 0, `script errors:\n${pageErrors.join('\n')}`);
    });
  } finally {
    for (const context of contexts) await context.close().catch(() => {});
    await server.stop();
  }
}

// ---------------------------------------------------------------------------------------------------------

async function main() {
  const haveStandIns = Boolean(
    process.env.PHOTOSHARE_TEST_DYNAMODB_ENDPOINT && process.env.PHOTOSHARE_TEST_S3_ENDPOINT,
  );
  const modes = (process.env.PHOTOSHARE_E2E_MODES ?? (haveStandIns ? 'embedded,aws' : 'embedded'))
    .split(',')
    .map((m) => m.trim())
    .filter(Boolean);
  if (!process.env.PHOTOSHARE_E2E_MODES && !haveStandIns)
    log('aws mode skipped: the stand-ins are not running (./tests/run.sh starts them)');
  for (const mode of modes) check(mode === 'embedded' || mode === 'aws', `unknown mode ${mode}`);
  await fs.access(BIN).catch(() => {
    throw new Error(`no photoshare binary at ${BIN}: build it with cargo build (or set PHOTOSHARE_BIN)`);
  });
  await fs.access(CHROMIUM).catch(() => {
    throw new Error(`no browser at ${CHROMIUM}: apt-get install -y chromium (or set PHOTOSHARE_CHROMIUM)`);
  });

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // playwright gives each launch a fresh temporary profile (--user-data-dir) and removes it on close.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  try {
    log(`chromium ${browser.version()}, time zone ${TIME_ZONE}, screenshots in ${path.relative(ROOT, ARTIFACTS)}/`);
    for (const mode of modes) {
      try {
        await runMode(browser, mode);
      } catch (error) {
        results.push({ mode, name: 'set up the mode', status: 'failed', error });
        log(`  ✗ ${mode}: ${error?.stack ?? error}`);
      }
    }
  } finally {
    await browser.close();
  }

  const count = (status) => results.filter((r) => r.status === status).length;
  const failed = results.filter((r) => r.status === 'failed');
  if (failed.length) {
    log('failed:');
    for (const r of failed) log(`  ${r.mode}: ${r.name}: ${String(r.error?.message ?? r.error).split('\n')[0]}`);
  }
  const skipped = count('skipped');
  console.log(`e2e: ${count('passed')} passed, ${failed.length} failed${skipped ? `, ${skipped} skipped` : ''}`);
  return failed.length || skipped ? 1 : 0;
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    for (const child of running) child.kill('SIGKILL');
    process.exit(130);
  });
}
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(`[e2e] ${error?.stack ?? error}`);
    console.log('e2e: 0 passed, 1 failed');
    process.exit(1);
  },
);
