"""moto's server (`moto_server`), with one cost taken out of SQS SendMessage.

moto 5.2.5's `SQSBackend.send_message` reads one queue attribute,
`queue.attributes.get("ContentBasedDeduplication")`, and `Queue.attributes` builds every
attribute, among them the three approximate message counts, each a pass over all messages in
the queue asking the clock per message. Sending is then linear in the queue's depth and
filling a queue quadratic: the scheduler's fan-out of 10 000 jobs slowed to 5 messages a
second and would have taken most of an hour, while SQS itself has no such cost. While a
message is being sent, the counts answer 0 (send_message uses no count); everywhere else
(GetQueueAttributes, receive, the tests' assertions) they are computed as moto computes them.

Usage: the same arguments as `moto_server` (infra/scripts/moto.sh starts it this way).
"""

import threading

from moto.sqs import models

_sending = threading.local()
_COUNTS = (
    "approximate_number_of_messages",
    "approximate_number_of_messages_delayed",
    "approximate_number_of_messages_not_visible",
)


def _count_unless_sending(prop):
    def get(self):
        if getattr(_sending, "on", False):
            return 0
        return prop.fget(self)

    return property(get)


for _name in _COUNTS:
    setattr(models.Queue, _name, _count_unless_sending(getattr(models.Queue, _name)))

_send_message = models.SQSBackend.send_message


def _send_message_without_counts(self, *args, **kwargs):
    _sending.on = True
    try:
        return _send_message(self, *args, **kwargs)
    finally:
        _sending.on = False


models.SQSBackend.send_message = _send_message_without_counts

if __name__ == "__main__":
    from moto.server import main

    main()
