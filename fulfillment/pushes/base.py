"""What every kind of push to WooCommerce must say: its request, how to find it after a lost answer, what follows."""


class PushError(Exception):
    """A push cannot be retried in its state (or by this user); the message is for staff."""


class PushHandler:
    """One kind of push (a status, a note, a refund...). The dispatcher finds it in `fulfillment.pushes.HANDLERS`.

    Methods that write are called inside the dispatcher's (or the retry's) transaction.
    """

    kind = ""
    # The permission a staff member needs to send a push of this kind again: the one to make that change.
    retry_permission = ""
    # After any earlier attempt, `find_sent` is asked before sending again (a second note, tracking item or refund
    # would reach the customer twice). False for kinds where sending twice is harmless (a PUT).
    looks_before_resending = False
    # Staff retrying a push have looked in WooCommerce: their retry sends it even if an attempt may have arrived.
    retry_trusts_staff = False

    def send(self, client, push):
        """Send the push (one call; two when an earlier attempt may have arrived) and return WooCommerce's answer."""
        if self.looks_before_resending and self.may_have_arrived(push):
            already = self.find_sent(client, push)
            if already is not None:
                return already
        return self.request(client, push)

    def may_have_arrived(self, push):
        # Any earlier attempt, not only one whose answer we know was lost: a 503 is not always WordPress turning the
        # request away (a caching proxy answers 503 when the shop ran past its timeout, and PHP goes on to make the
        # note). One GET before a second attempt costs little; a second customer e-mail cannot be taken back.
        return push.maybe_sent or push.attempts > 1

    def request(self, client, push):
        raise NotImplementedError

    def find_sent(self, client, push):
        """What WooCommerce already made of this push (an earlier attempt's answer was lost), or None."""
        return None

    def on_sent(self, push, answer):
        """WooCommerce took it: keep what its answer says."""

    def on_refused(self, push):
        """WooCommerce refused it for good (or the dispatcher gave up): put our side right."""

    def on_retry(self, push, user):
        """Staff send a failed push again; raise PushError when it no longer makes sense."""

    def value_label(self, push):
        """What a push that sets a field sets, in staff's words ("" for the kinds that add something)."""
        return ""
