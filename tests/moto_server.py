"""moto's DynamoDB server, as the test suite's stand-in, with two changes that keep DynamoDB's semantics.

1. One request at a time. moto 5.2 snapshots a table (copy.deepcopy) at the start of TransactWriteItems, to
   roll back on failure; a concurrent write to that table during the copy fails the request with HTTP 500
   ("dictionary changed size during iteration"). DynamoDB has no such limit; the service's own concurrency is
   still exercised end to end, moto just answers in turn.
2. No snapshot: conditions first. The snapshot copies the whole table, its indexes and stream records, once
   per item of the transaction: 1,000 comments on one photo took minutes. With requests serialised, the
   conditions are checked against the current state first, as DynamoDB does: if one fails, the transaction
   is cancelled (ConditionalCheckFailed for that item) with nothing applied; if all hold, it cannot fail
   for a condition and is applied directly. Anything unusual takes moto's own path, snapshot and all.

Usage: python3 tests/moto_server.py PORT   (binds 127.0.0.1 only)
"""

import sys
import threading

import moto.dynamodb.models as models
from moto.dynamodb.exceptions import TransactionCanceledException
from moto.dynamodb.models import DynamoDBBackend
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

original_transact = DynamoDBBackend.transact_write_items


def failed_conditions(backend, transact_items):
    """For each item, whether its condition fails against the current state."""
    failed = []
    for item in transact_items:
        _, op = next(iter(item.items()))
        condition = op.get("ConditionExpression")
        if condition is None:
            failed.append(False)
            continue
        table = backend.get_table(op["TableName"])
        if "Item" in op:
            key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
            if table.range_key_attr is not None:
                key[table.range_key_attr] = op["Item"][table.range_key_attr]
        else:
            key = op["Key"]
        current = backend.get_item(op["TableName"], key)
        expression = models.get_filter_expression(
            condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
        )
        failed.append(not expression.expr(current))
    return failed


class NoCopy:
    @staticmethod
    def deepcopy(value, memo=None):
        return value


def transact_write_items(self, transact_items):
    try:
        failed = failed_conditions(self, transact_items)
    except Exception:  # anything unusual: let moto judge it
        return original_transact(self, transact_items)
    if any(failed):
        raise TransactionCanceledException(
            [("ConditionalCheckFailed", "The conditional request failed", None) if f else (None, None, None) for f in failed]
        )
    saved, models.copy = models.copy, NoCopy
    try:
        return original_transact(self, transact_items)
    finally:
        models.copy = saved


DynamoDBBackend.transact_write_items = transact_write_items


class OneAtATime:
    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            # moto's responses are complete bytes: materialise them inside the lock.
            return list(self.app(environ, start_response))


if __name__ == "__main__":
    app = OneAtATime(DomainDispatcherApplication(create_backend_app))
    run_simple("127.0.0.1", int(sys.argv[1]), app, threaded=True, use_reloader=False)
