// Renders one HTML report of `vouch explain` in Debian's headless Chromium, driven by
// playwright-core, as tests/tests/explain.rs asks:
//
//   node render.js REPORT.html SCREENSHOT.png
//
// Opens the report by file://, records every request the page makes, writes a full-page PNG
// screenshot, and prints one JSON document: {"text": document.body.innerText, "requests":
// [...], "scripts": number of <script> elements}. Exits 1 (after printing) when the page made
// any request other than the report's own file:// URL: a report must load nothing.
'use strict';

const path = require('path');
const { pathToFileURL } = require('url');
const { chromium } = require('playwright-core');

async function main() {
  const [report, screenshot] = process.argv.slice(2);
  if (!report || !screenshot) {
    console.error('usage: node render.js REPORT.html SCREENSHOT.png');
    process.exit(2);
  }
  const own = pathToFileURL(path.resolve(report)).href;
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    // The tests run as root, where Chromium's sandbox cannot start.
    args: ['--no-sandbox'],
  });
  try {
    const page = await browser.newPage({ javaScriptEnabled: true });
    const requests = [];
    page.on('request', (request) => requests.push(request.url()));
    await page.goto(own, { waitUntil: 'load' });
    const text = await page.evaluate(() => document.body.innerText);
    const scripts = await page.evaluate(() => document.querySelectorAll('script').length);
    await page.screenshot({ path: screenshot, fullPage: true });
    const foreign = requests.filter((url) => url !== own);
    console.log(JSON.stringify({ text, requests, scripts }));
    if (foreign.length > 0) {
      console.error(`the report made requests other than its own file: ${foreign.join(', ')}`);
      process.exitCode = 1;
    }
  } finally {
    await browser.close();
  }
}

main().catch((error) => {
  console.error(error && error.stack ? error.stack : String(error));
  process.exit(1);
});
