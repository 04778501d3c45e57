"""Every page of the UI (admin, history, self-service, login) in a real headless
Chromium at 1280 and 390 px, light and dark: no page scrolls sideways on a phone, and
every visible text is readable against what is behind it (WCAG contrast, computed
from the page's own colours). Screenshots of each go to tests/artifacts/sweep/ (or
``OLLAMA_GATE_TEST_SHOTS``) to be looked at."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.admin import test_ui_browser as ui
from tests.admin.test_ui_browser import OVERFLOW_JS, SIZES, admin_pages, new_page
from tests.helpers.paths import ARTIFACTS

pytestmark = pytest.mark.browser
# that module's fixtures, for a gateway of this module's own
browser, ui_gateway, world = ui.browser, ui.ui_gateway, ui.world

SHOTS = Path(os.environ.get("OLLAMA_GATE_TEST_SHOTS", ARTIFACTS / "sweep"))

# WCAG 2 contrast of each visible text against its backgrounds blended down to the
# page: at least 4.5:1, or 3:1 for large text (24 px, or 18.66 px bold)
CONTRAST_JS = """() => {
  const rgba = c => {
    const m = /rgba?\\(([^)]+)\\)/.exec(c || '');
    if (!m) return null;
    const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(parseFloat);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, under) => top.slice(0, 3).map(
    (v, i) => v * top[3] + under[i] * (1 - top[3])).concat([1]);
  const lum = c => c.slice(0, 3).map(v => {
    v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
  }).reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
  const behind = el => {
    const layers = [];
    for (let p = el; p; p = p.parentElement) {
      const c = rgba(getComputedStyle(p).backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    const dark = matchMedia('(prefers-color-scheme: dark)').matches;
    let bg = dark ? [18, 18, 18, 1] : [255, 255, 255, 1];  // the canvas
    for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
    return bg;
  };
  const skip = new Set(['SCRIPT', 'STYLE', 'TITLE', 'OPTION', 'NOSCRIPT', 'title']);
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    if (skip.has(el.tagName)) continue;
    const text = [...el.childNodes].filter(n => n.nodeType === 3)
      .map(n => n.data).join('').trim();
    if (!text) continue;
    const s = getComputedStyle(el);
    const r = el.getBoundingClientRect();
    if (!r.width || !r.height || s.visibility !== 'visible') continue;
    if (r.width <= 1) continue;  // a screen readers' text
    const svg = el instanceof SVGElement;
    const ink = rgba(svg ? s.fill : s.color);
    if (!ink) continue;
    const bg = behind(svg ? el.closest('svg').parentElement : el);
    const fg = over(ink, bg);
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    const size = parseFloat(s.fontSize), bold = parseInt(s.fontWeight) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < need)
      out.push(`${el.tagName}.${el.className.baseVal ?? el.className} ` +
               `"${text.slice(0, 30)}" ${ratio.toFixed(2)}`);
  }
  return out.slice(0, 8);
}"""

# inputs whose placeholder is wider than their box: a hint cut off mid-word
CLIPPED_JS = """() => {
  const ctx = document.createElement('canvas').getContext('2d'), out = [];
  for (const el of document.querySelectorAll('input, textarea')) {
    if (!el.offsetParent || !el.placeholder) continue;
    const s = getComputedStyle(el);
    ctx.font = `${s.fontStyle} ${s.fontWeight} ${s.fontSize} ${s.fontFamily}`;
    const pad = parseFloat(s.paddingLeft) + parseFloat(s.paddingRight);
    const room = el.clientWidth - pad;
    if (ctx.measureText(el.placeholder).width > room + 1)
      out.push(`${el.id || el.name}: "${el.placeholder}"`);
  }
  return out;
}"""

# bordered boxes inside bordered boxes (a form control, badge or note excepted)
NESTED_JS = """() => {
  const boxed = el => {
    const s = getComputedStyle(el);
    const r = el.getBoundingClientRect();
    return r.width > 120 && r.height > 36 && s.display !== 'inline' &&
      ['Top', 'Right', 'Bottom', 'Left'].every(side =>
        parseFloat(s['border' + side + 'Width']) > 0 &&
        s['border' + side + 'Style'] !== 'none' &&
        !/rgba\\(.*, 0\\)$/.test(s['border' + side + 'Color']));
  };
  const plain = 'input, select, textarea, button, .btn, .badge, .chip, .flash, pre, ' +
    'code, .danger-box, .stat, figure, .turn, li, .menu-toggle, .secret';
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    if (el.matches(plain) || !boxed(el)) continue;
    for (let p = el.parentElement; p; p = p.parentElement)
      if (!p.matches(plain) && boxed(p)) {
        out.push(`${el.tagName}.${el.className} in ${p.tagName}.${p.className}`);
        break;
      }
  }
  return out.slice(0, 5);
}"""

# tables that need their scroll bar to be read whole
SCROLLED_JS = """() => [...document.querySelectorAll('.table-wrap')]
  .filter(w => w.scrollWidth > w.clientWidth + 1)
  .map(w => w.querySelector('th, td').textContent.trim())"""

# against the device's width: a phone's browser widens its layout to fit a wide page
SIDEWAYS_JS = "(width) => document.documentElement.scrollWidth - width"


def every_page(page, gw, world) -> dict[str, str]:
    """The admin pages, the key pages, the history pages, the self-service page
    and the admin's own portal."""
    pages = admin_pages(page, gw, world)
    page.goto(gw.url + pages["user"])
    links = page.locator("a[href^='/admin/keys/']").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))"
    )
    key = next(h for h in links if re.fullmatch(r"/admin/keys/\d+", h))
    return {
        **pages,
        "key": key,
        "rotate": f"{key}/rotate",
        "revoke": f"{key}/revoke",
        "key-gone": f"{key}/created",  # its secret shown already: the 410 page
        "history-filtered": "/history/?status=failed",
        "history-bad-filter": "/history/?since=soon",
        "self-service": "/gate/usage",
        "portal": "/portal/",  # the admin's own keys
        "portal-usage": "/portal/usage",
        "portal-history": "/portal/history",
        "portal-models": "/portal/models",
    }


def check(page, name: str, size: str, scheme: str, problems: dict) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}-{size}-{scheme}.png"), full_page=True)
    sideways = page.evaluate(SIDEWAYS_JS, SIZES[size]["width"])
    if sideways > 0 and size == "390":
        problems[f"{name}: scrolls sideways by"] = sideways
    scrolled = page.evaluate(SCROLLED_JS)
    if scrolled and size == "1280":  # a laptop sees every table whole
        problems[f"{name}: a table scrolls sideways"] = scrolled
    over = page.evaluate(OVERFLOW_JS)
    if over:
        problems[f"{name}: past the edge"] = over
    clipped = page.evaluate(CLIPPED_JS)
    if clipped:
        problems[f"{name}: placeholder cut off"] = clipped
    nested = page.evaluate(NESTED_JS)
    if nested:
        problems[f"{name}: boxes in boxes"] = nested
    low = page.evaluate(CONTRAST_JS)
    if low:
        problems[f"{name}: low contrast"] = low


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", ["1280", "390"])
def test_every_page_fits_a_phone_and_reads_in_both_themes(
    browser, ui_gateway, world, size, scheme
):
    page = new_page(browser, ui_gateway, world, size, scheme)
    problems: dict = {}
    for name, path in every_page(page, ui_gateway, world).items():
        page.goto(ui_gateway.url + path)
        check(page, name, size, scheme, problems)
    page.goto(ui_gateway.url + "/gate/usage")  # a key holder's own report
    page.fill("#key", world["plain"])
    page.click("#usage-form [type=submit]")
    page.wait_for_selector("#usage-key")
    check(page, "self-service-report", size, scheme, problems)
    page.context.close()
    anon = browser.new_context(
        viewport=SIZES[size], is_mobile=size == "390", color_scheme=scheme
    ).new_page()
    anon.goto(ui_gateway.url + "/admin/login")
    check(anon, "login", size, scheme, problems)
    anon.fill("#name", "nobody")
    anon.fill("#password", "wrong password")
    anon.click("input[type=submit]")
    check(anon, "login-failed", size, scheme, problems)
    anon.context.close()
    assert problems == {}, "\n".join(f"{k}: {v}" for k, v in problems.items())


def test_the_contrast_check_sees_unreadable_text(browser, ui_gateway, world):
    """The checks themselves: grey on dark grey, a page wider than the phone, a cut
    placeholder and a box in a box are each caught."""
    page = new_page(browser, ui_gateway, world, "390", "dark")
    page.goto(ui_gateway.url + "/admin/users")
    assert page.evaluate(CONTRAST_JS) == []
    page.evaluate("document.querySelector('h1').style.color = '#333a45'")
    assert any(p.startswith("H1") for p in page.evaluate(CONTRAST_JS))
    assert page.evaluate(SIDEWAYS_JS, 390) == 0
    page.evaluate("document.querySelector('main').style.minWidth = '600px'")
    assert page.evaluate(SIDEWAYS_JS, 390) > 0
    page.goto(ui_gateway.url + "/admin/backends")
    assert page.evaluate(CLIPPED_JS) == []
    page.evaluate("document.querySelector('#add-name').placeholder = 'x'.repeat(80)")
    assert page.evaluate(CLIPPED_JS) == ['add-name: "' + "x" * 80 + '"']
    assert page.evaluate(NESTED_JS) == []
    page.evaluate(
        """() => { const box = document.createElement('div');
          box.className = 'inner'; box.style.border = '1px solid red';
          box.style.height = '50px'; document.querySelector('.panel').append(box); }"""
    )
    assert page.evaluate(NESTED_JS) == ["DIV.inner in DIV.panel spaced"]
    page.context.close()
