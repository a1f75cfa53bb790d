"""Webhooks: from the per-device event log to signed, retried, ordered and replayable deliveries.

* ``signing`` — the headers (wa-server's ``X-WA-*`` HMAC and Standard Webhooks);
* ``envelope`` — the JSON body of a delivery;
* ``schedule`` — when a failed delivery is tried again, and when it is dead-lettered;
* ``endpoints`` — which URL an app's deliveries go to, and whether that address may be reached;
* ``delivery`` — a worker delivering one stream (app + device) in ``sequence`` order;
* ``dispatcher`` — the loop that hands due streams to workers, woken by new events;
* ``services`` — the delivery log, replay and counters the REST API and admin use.

Delivery rows are written by the event log itself (``DeviceEvent.append_many``), in the event's
own transaction.
"""
