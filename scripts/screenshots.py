"""Screenshots of the dashboard, the order list and an order page at 1440 px and 390 px, for docs/screenshots/.

    scripts/run.sh                                    # in one terminal: the demo, which prints the admin's password
    .venv/bin/python scripts/screenshots.py --password <it> [--url http://127.0.0.1:8000] [--order <id>]

Debian's Chromium (/usr/bin/chromium) through Playwright, headless. Without --order, the order page shown is the
list's first order of the demo store that has shipping, a refund or most lines (the one that shows the most).
"""

import argparse
import re
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]
WIDTHS = {"1440": (1440, 900), "390": (390, 844)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--username", default="admin")
    parser.add_argument("--password", required=True)
    parser.add_argument("--order", help="the order page's id (default: the list's first order)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        for name, (width, height) in WIDTHS.items():
            context = browser.new_context(viewport={"width": width, "height": height}, locale="en-GB",
                                          device_scale_factor=1, is_mobile=width < 600, has_touch=width < 600)
            page = context.new_page()
            page.goto(f"{args.url}/admin/login/")
            page.fill("#id_username", args.username)
            page.fill("#id_password", args.password)
            page.click("input[type=submit]")
            page.wait_for_url(f"{args.url}/admin/")
            shots = {"dashboard": f"{args.url}/admin/", "order-list": f"{args.url}/admin/fulfillment/order/"}
            order = args.order
            if order is None:
                page.goto(shots["order-list"])
                href = page.locator("#result_list tbody tr th a, #result_list tbody tr td a").first.get_attribute("href")
                order = re.search(r"/order/(\d+)/", href).group(1)
            shots["order-page"] = f"{args.url}/admin/fulfillment/order/{order}/change/"
            for shot, url in shots.items():
                page.goto(url)
                page.wait_for_load_state("networkidle")
                overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
                path = out / f"{shot}-{name}.png"
                page.screenshot(path=str(path), full_page=True)
                print(f"{path}: {width} px wide, page wider than the window by {overflow} px")
            context.close()
        browser.close()


if __name__ == "__main__":
    main()
