// Starts Debian's Chromium through playwright-core, with the flags this
// sandbox needs (no background networking: the machine has no internet).
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

export const BASE = process.env.SOMMELIER_URL || "http://127.0.0.1:8080";
export const ARTIFACTS = process.env.E2E_ARTIFACTS || new URL("../artifacts", import.meta.url).pathname;
mkdirSync(ARTIFACTS, { recursive: true });

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
  });
}

/**
 * A page that fails the test on any script error or failed API call.
 * @param {import("playwright-core").Browser} browser
 * @param {{width: number, height: number}} [viewport]
 */
export async function open(browser, viewport = { width: 1360, height: 900 }, colorScheme = /** @type {"light"|"dark"} */ ("light")) {
  const context = await browser.newContext({ viewport, colorScheme });
  // The keys the demo printed in its link, as the page keeps them.
  await context.addInitScript(([key, admin]) => {
    if (key) localStorage.setItem("sommelier.key", key);
    if (admin) localStorage.setItem("sommelier.admin", admin);
  }, [process.env.SOMMELIER_KEY || "", process.env.SOMMELIER_ADMIN_KEY || ""]);
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    // Failed loads are judged by their status below, not by the browser's log line.
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) problems.push(`console error: ${m.text()}`);
  });
  page.on("response", (r) => {
    // 404s of optional reads (a user without events) are answers, not failures.
    if (r.status() >= 500) problems.push(`${r.status()} from ${r.url()}`);
  });
  return { page, context, problems };
}

/** @param {import("playwright-core").Page} page @param {string} name */
export async function shot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}
