"""WIT glue: componentize-py loads this module and calls one class per exported interface.
A payment answer is a `payment-result` variant, never an exception: a configuration problem
is the gateway's fault (`error`, logged for the merchant), not the customer's."""

from wit_world import exports
from wit_world.exports import payment

import logic
from emporium_sdk import Config, ConfigError, InvalidInput, Logger


class Payment(exports.Payment):
    def authorize(self, request):
        number = None if request.card is None else request.card.number
        try:
            outcome = logic.authorize(Config.from_host(), number, request.amount.amount, request.order_number)
        except (ConfigError, InvalidInput) as e:
            return payment.PaymentResult_Error(str(e))
        if isinstance(outcome, logic.Approved):
            # Never log card data: the order number is enough to find the attempt.
            Logger.from_host().info(f"approved {request.order_number}")
            return payment.PaymentResult_Approved(payment.Approval(outcome.reference, request.amount))
        return payment.PaymentResult_Declined(outcome.message)

    def capture(self, reference, amount):
        return payment.PaymentResult_Approved(payment.Approval(reference, amount))

    def refund(self, reference, amount):
        return payment.PaymentResult_Approved(payment.Approval(reference, amount))

    def void(self, reference):
        return payment.PaymentResult_Declined(f"{reference}: nothing to void in the sandbox")

    def handle_callback(self, callback):
        return payment.PaymentResult_Error("this gateway has no redirect flow")
