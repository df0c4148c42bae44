// report.html in a real headless Chromium: loads offline with no console errors, exceptions or network
// requests, escapes hostile names, and shows the evaluation table and every SVG plot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { writeReport } from '../../src/report/index.js';
import { Browser, findChromium } from './browser.js';
import { checkReportPage } from './page-checks.js';
import { HOSTILE, sampleReport } from './sample-data.js';

const chromium = findChromium();
if (!chromium) {
  process.stderr.write(
    '\n*** SKIPPING the headless-browser report test: no Chromium binary found (looked at $QZHOU_CHROMIUM, $CHROME_PATH, /usr/bin/chromium, ' +
      '/usr/bin/chromium-browser, /usr/bin/google-chrome). Install it with `apt-get install -y chromium`. ***\n\n',
  );
}

test('report.html loads in headless Chromium without errors and shows the table and plots', { skip: chromium ? false : 'no Chromium binary (apt-get install -y chromium)', timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'qzhou-report-browser-'));
  const browser = await Browser.launch(chromium!);
  try {
    const data = sampleReport();
    const out = writeReport(dir, data);
    const url = pathToFileURL(out.html).href;
    const { session, events } = await browser.open(url);
    const result = await checkReportPage(browser, session, events, url);
    assert.deepEqual(result.problems, [], result.problems.join('\n'));
    assert.equal(result.title, data.title, 'the title shows the raw text, escaped rather than interpreted');
    assert.equal(result.pwned, false, 'no script from the data ran');
    assert.equal(result.evalRows, 2);
    assert.deepEqual(result.evalFirstRow, ['Banking77Classification', 'test', 'accuracy', '71.23', '10.41', '63.61', '+7.62']);
    assert.deepEqual(result.charts.map((c) => c.id), ['plot-eval', 'plot-loss-retrieval', 'plot-loss-pair', 'plot-loss-cls', 'plot-lr', 'plot-throughput', 'plot-data']);
    assert.deepEqual(result.charts.find((c) => c.id === 'plot-loss-pair')!.legend, ['pair loss']);
    assert.ok(result.setsTableText.includes(HOSTILE), 'the hostile set name is shown as text');
    if (process.env.QZHOU_REPORT_SCREENSHOT) writeFileSync(process.env.QZHOU_REPORT_SCREENSHOT, await browser.screenshot(session));

    // The standalone SVG files are well-formed XML documents (Chromium reports a parsererror otherwise).
    for (const f of readdirSync(join(dir, 'plots'))) {
      const { session: s, events: ev } = await browser.open(pathToFileURL(join(dir, 'plots', f)).href);
      const r = await browser.evaluate<{ root: string; errors: number; width: number }>(
        s,
        `({ root: document.documentElement.localName, errors: document.getElementsByTagName('parsererror').length, width: document.documentElement.getBoundingClientRect().width })`,
      );
      assert.deepEqual({ root: r.root, errors: r.errors }, { root: 'svg', errors: 0 }, f);
      assert.ok(r.width > 100, `${f} renders with a width`);
      assert.deepEqual(ev.filter((e) => e.level === 'error'), [], f);
    }
  } finally {
    await browser.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
