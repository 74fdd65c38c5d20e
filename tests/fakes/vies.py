"""A local HTTP server that speaks the REST API of the EU's VIES service, as ec.europa.eu/taxation_customs/vies does.

GET /ms/{country}/vat/{number} answers {"isValid", "requestDate", "userError", "name", "address",
"requestIdentifier", "originalVatNumber", "vatNumber", "viesApproximate"}; POST /check-vat-number with
{"countryCode", "vatNumber"} answers the same with "valid" (as VIES's two operations differ). A number is valid when
it is in `registered` (a few companies per member state), else INVALID. Tests make member states unavailable
(userError MS_UNAVAILABLE, as VIES answers when a national register does not reply) or queue failures: the
{"actionSucceed": false, "errorWrappers": [...]} body of the service itself, or an HTML page. Malformed input gets
INVALID_INPUT. Thread-safe.

Run it for a demo: python -m tests.fakes.vies --port 8766
"""

import argparse
import json
import threading
from datetime import UTC, datetime

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

MEMBER_STATES = {"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "EL", "ES", "FI", "FR", "HR", "HU", "IE", "IT",
                 "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK", "XI"}
# Member states whose registers give no name or address ("---").
NO_DETAILS = {"DE", "ES"}
REGISTERED = {
    ("NL", "854091798B01"): ("FOTOCADEAU NEDERLAND B.V.", "KEIZERSGRACHT 00123\n1015CJ AMSTERDAM"),
    ("NL", "004495445B01"): ("DRUKKERIJ DE VLIEGER B.V.", "INDUSTRIEWEG 00012\n3044AS ROTTERDAM"),
    ("BE", "0403170701"): ("NV ATELIER GENT", "Korenmarkt 1\n9000 Gent"),
    ("DE", "136695976"): ("---", "---"),
    ("FR", "40303265045"): ("SA PHOTO LYON", "12 RUE DE LA REPUBLIQUE\n69002 LYON"),
    ("EL", "094259216"): ("ΦΩΤΟΓΡΑΦΙΚΑ ΑΕ", "ΣΤΑΔΙΟΥ 10\n10564 ΑΘΗΝΑ"),
    ("IT", "00743110157"): ("STAMPA MILANO SRL", "VIA TORINO 1\n20123 MILANO MI"),
}
HTML_ERROR = ("<!DOCTYPE html><html><head><title>Service unavailable</title></head><body><h1>The VIES service is "
              "temporarily unavailable</h1></body></html>")


class FakeVies:
    def __init__(self):
        self.registered = dict(REGISTERED)
        self.unavailable = set()  # member states whose register does not answer (MS_UNAVAILABLE)
        self.failures = []  # queued (status, body, content type)
        self.requests = []  # (method, path) of every request
        self.hold = 0.0  # seconds every answer waits (VIES waiting for a slow member state)
        self.lock = threading.Lock()
        self.released = threading.Event()
        self.server = None
        self.thread = None
        self.url = ""

    # -- running ------------------------------------------------------------------------------------------

    def start(self, host="127.0.0.1", port=0):
        self.server = make_server(host, port, self, threaded=True)
        self.url = f"http://{host}:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.released.set()
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    # -- test controls --------------------------------------------------------------------------------------

    def fail_next(self, error="SERVICE_UNAVAILABLE", status=500, count=1):
        """The service's own failure body, as VIES sends it when it cannot take the request."""
        body = json.dumps({"actionSucceed": False, "errorWrappers": [{"error": error, "message": None}]})
        with self.lock:
            self.failures.extend([(status, body, "application/json")] * count)

    def fail_next_with_html(self, status=503, count=1):
        with self.lock:
            self.failures.extend([(status, HTML_ERROR, "text/html")] * count)

    # -- WSGI -------------------------------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        return self.handle(Request(environ))(environ, start_response)

    @staticmethod
    def json(body, status=200):
        return Response(json.dumps(body, ensure_ascii=False), status=status,
                        content_type="application/json; charset=utf-8")

    def handle(self, request):
        with self.lock:
            self.requests.append((request.method, request.path))
            failure = self.failures.pop(0) if self.failures else None
        if self.hold:
            self.released.wait(self.hold)
        if failure:
            status, body, content_type = failure
            return Response(body, status=status, content_type=content_type)
        parts = request.path.strip("/").split("/")
        if request.method == "GET" and len(parts) == 4 and parts[0] == "ms" and parts[2] == "vat":
            return self.json(self.answer(parts[1], parts[3], valid_key="isValid"))
        if request.method == "POST" and parts == ["check-vat-number"]:
            body = request.get_json(silent=True) or {}
            return self.json(self.answer(str(body.get("countryCode") or ""), str(body.get("vatNumber") or ""),
                                         valid_key="valid"))
        return self.json({"actionSucceed": False, "errorWrappers": [{"error": "NOT_FOUND"}]}, 404)

    def answer(self, country, number, *, valid_key):
        if country not in MEMBER_STATES or not number.isalnum() or len(number) > 14:
            return {"actionSucceed": False, "errorWrappers": [{"error": "INVALID_INPUT", "message": None}]}
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        answer = {valid_key: False, "requestDate": now, "userError": "INVALID", "name": "---", "address": "---",
                  "requestIdentifier": "", "originalVatNumber": number, "vatNumber": number,
                  "viesApproximate": {"name": "---", "street": "---", "postalCode": "---", "city": "---",
                                      "companyType": "---", "matchName": 3, "matchStreet": 3,
                                      "matchPostalCode": 3, "matchCity": 3, "matchCompanyType": 3}}
        if valid_key == "valid":
            answer["countryCode"] = country
        with self.lock:
            if country in self.unavailable:
                answer["userError"] = "MS_UNAVAILABLE"
                return answer
            found = self.registered.get((country, number))
        if found:
            name, address = found
            answer.update({valid_key: True, "userError": "VALID"})
            if country not in NO_DETAILS:
                answer.update({"name": name, "address": address})
        return answer


def main():
    parser = argparse.ArgumentParser(description="A local VIES REST API for demos and manual tests.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    arguments = parser.parse_args()
    server = FakeVies().start(arguments.host, arguments.port)
    print(f"Fake VIES at {server.url}  valid numbers: "
          + ", ".join(f"{c}{n}" for c, n in sorted(server.registered)), flush=True)
    try:
        server.thread.join()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
