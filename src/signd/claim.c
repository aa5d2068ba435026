/* Claims: several sign nodes on one queue sign each build once
 * (docs/formats/claim.md).
 *
 * Before a batch touches the HSM, the sign node publishes a claim for
 * every build it is about to answer. The push race decides: a node that
 * finds another's live claim on a build leaves the build to it (and looks
 * again in its next batch: the claim ends when its lease does). Signing
 * stops a margin before the batch's leases end, so a node that takes over
 * an expired claim never signs beside the node that held it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/sha.h>

#include "request/claim.h"
#include "signd/signd-internal.h"
#include "util/cleanup.h"
#include "util/encode.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/secret.h"

#define SIGND_DEFAULT_SIGN_NODE "sign"

/* What a batch's claim step found for one build at one tip. */
enum claim_state {
	CLAIM_NONE,          /* nobody claims it (or only forged files do) */
	CLAIM_OURS,          /* this node's claim, newest */
	CLAIM_OTHER_LIVE,    /* another node's, lease running */
	CLAIM_OTHER_EXPIRED, /* another node's, lease over */
	CLAIM_ANSWERED,      /* a response exists */
};

struct claim_look {
	enum claim_state state;
	uint32_t next_gen;   /* the generation a new claim would get */
	int64_t expires;     /* of the newest valid claim */
	char holder[65];     /* its sign node */
};

void signd_forged_claim_marker(const char *path, uint8_t out[32])
{
	char tag[QUEUE_MAX_PATH + 32];
	int n = snprintf(tag, sizeof(tag), "rombsr-forged-claim-v1\n%s", path);

	SHA256((const uint8_t *)tag, n > 0 && (size_t)n < sizeof(tag) ? (size_t)n : sizeof(tag) - 1, out);
}

/* STATEDIR/instance: 16 random bytes in hex, made at the first start. It
 * tells this node's claims from every other node's, including one that
 * was wrongly given the same sign-node name. */
static int claim_instance(struct signd *s)
{
	_cleanup_free_ char *path = NULL, *hex = NULL;
	_cleanup_free_ uint8_t *data = NULL, *id = NULL;
	size_t len, idlen;
	int err;

	if (asprintf(&path, "%s/instance", s->cfg->state_dir) < 0)
		return RB_E_NOMEM;
	err = rb_file_read(path, 64, &data, &len);
	if (err == RB_OK) {
		if (len != 2 * CLAIM_INSTANCE_LEN + 1 || data[len - 1] != '\n' ||
		    rb_hex_decode((const char *)data, 2 * CLAIM_INSTANCE_LEN, &id, &idlen) < 0 ||
		    idlen != CLAIM_INSTANCE_LEN)
			return rb_err_set(RB_E_PARSE, "%s: not a sign-node instance id (32 hex digits); restore it "
					  "from backup, or remove it if this node holds no claim", path);
		memcpy(s->pub.instance, id, CLAIM_INSTANCE_LEN);
		return RB_OK;
	}
	if (err != RB_E_NOTFOUND)
		return err;
	rb_err_clear();
	if ((err = rb_random_bytes(s->pub.instance, CLAIM_INSTANCE_LEN)) < 0 ||
	    (err = rb_hex_encode(s->pub.instance, CLAIM_INSTANCE_LEN, &hex)) < 0)
		return err;
	hex[2 * CLAIM_INSTANCE_LEN] = '\n';
	return rb_file_write_atomic(path, hex, 2 * CLAIM_INSTANCE_LEN + 1, 0600);
}

int signd_claim_open(struct signd *s, const char *origin)
{
	const char *name = s->cfg->sign_node_name ? s->cfg->sign_node_name : SIGND_DEFAULT_SIGN_NODE;

	if (strlen(origin) > CLAIM_ORIGIN_MAX)
		return rb_err_set(RB_E_INVAL, "audit-log origin \"%.64s...\" is over %d bytes; use a shorter "
				  "token label or rombsr.signNode", origin, CLAIM_ORIGIN_MAX);
	snprintf(s->pub.sign_node, sizeof(s->pub.sign_node), "%s", name);
	snprintf(s->aw.origin, sizeof(s->aw.origin), "%s", origin);
	return claim_instance(s);
}

/* The claims on it's build at tip, from the newest generation down to the
 * newest valid one. Files a refused commit added (forged: see intake) or
 * that do not parse hold nothing, but keep their generation's place. */
static int claim_look_up(struct signd *s, const char *tip, const struct signd_item *it, int64_t now,
			 struct claim_look *ret)
{
	char dir[QUEUE_MAX_PATH + 1], path[QUEUE_MAX_PATH + 1];
	uint32_t top = 0;
	bool exists = false;
	int err;

	memset(ret, 0, sizeof(*ret));
	ret->next_gen = 1;
	if (!tip[0])
		return RB_OK;
	snprintf(path, sizeof(path), "responses/%s/%s.json", it->node->name, it->build_id);
	if ((err = queue_has_file(s->q, tip, path, &exists)) < 0)
		return err;
	if (exists) {
		ret->state = CLAIM_ANSWERED;
		return RB_OK;
	}
	/* Generations have no gaps (the guard refuses one): probe upwards. */
	snprintf(dir, sizeof(dir), "claims/%s/%s", it->node->name, it->build_id);
	for (;;) {
		if (top >= CLAIM_MAX_GENERATION)
			return rb_err_set(RB_E_STATE, "queue %s: %s holds %d claims; the build cannot be claimed "
					  "again", s->cfg->queue.url, dir, CLAIM_MAX_GENERATION);
		if ((err = claim_path(it->node->name, it->build_id, top + 1, path, sizeof(path))) < 0 ||
		    (err = queue_has_file(s->q, tip, path, &exists)) < 0)
			return err;
		if (!exists)
			break;
		top++;
	}
	ret->next_gen = top + 1;
	for (uint32_t g = top; g >= 1; g--) {
		_cleanup_(claim_doc_freep) struct claim_doc *c = NULL;
		_cleanup_free_ uint8_t *data = NULL;
		uint8_t marker[32];
		size_t len;

		if ((err = claim_path(it->node->name, it->build_id, g, path, sizeof(path))) < 0)
			return err;
		signd_forged_claim_marker(path, marker);
		if (replay_db_has_document(s->in.replay, marker))
			continue;
		err = queue_read_file(s->q, tip, path, CLAIM_MAX_BYTES, &data, &len);
		if (err == RB_E_NOMEM)
			return err;
		if (err == RB_OK)
			err = claim_doc_parse((const char *)data, len, path, &c);
		if (err < 0 || strcmp(c->node, it->node->name) != 0 || strcmp(c->build_id, it->build_id) != 0 ||
		    c->generation != g) {
			signd_log(s, "event=claim-ignored path=\"%s\" detail=\"%s\"", path,
				  err < 0 ? rb_err_message(err) : "names another node, build or generation");
			rb_err_clear();
			continue;
		}
		if (memcmp(c->instance, s->pub.instance, CLAIM_INSTANCE_LEN) != 0 && strcmp(c->origin, s->aw.origin) == 0) {
			signd_log(s, "event=halt reason=shared-origin path=\"%s\" sign_node=%s", path, c->sign_node);
			return rb_err_set(RB_E_STATE, "queue %s: %s was written by another sign node (\"%s\") with this "
					  "node's audit-log origin \"%s\": two sign nodes would grow two logs of one "
					  "name. Give each sign node its own rombsr.signNode in its sign.conf (and "
					  "its own audit log), then start them again", s->cfg->queue.url, path,
					  c->sign_node, s->aw.origin);
		}
		snprintf(ret->holder, sizeof(ret->holder), "%s", c->sign_node);
		ret->expires = c->expires;
		if (memcmp(c->instance, s->pub.instance, CLAIM_INSTANCE_LEN) == 0)
			ret->state = CLAIM_OURS;
		else
			ret->state = now < c->expires ? CLAIM_OTHER_LIVE : CLAIM_OTHER_EXPIRED;
		return RB_OK;
	}
	return RB_OK;
}

static unsigned claim_margin(const struct signd *s)
{
	return s->cfg->queue.claim_seconds / 3;
}

struct claim_round {
	struct signd *s;
	struct signd_batch *b;
	size_t done;
	struct queue_file *files;
	struct rb_buf *bufs;
	char (*paths)[QUEUE_MAX_PATH + 1];
	size_t n;
};

static void claim_round_reset(struct claim_round *r)
{
	for (size_t i = 0; i < r->n; i++)
		rb_buf_free(&r->bufs[i]);
	r->n = 0;
}

/* Decide it at tip: keep our live claim, leave it to another node's, or
 * add a claim of the next generation to r's files. */
static int claim_item(struct claim_round *r, const char *tip, struct signd_item *it, int64_t now)
{
	struct signd *s = r->s;
	struct claim_look look;
	struct claim_doc c = { 0 };
	int err;

	if ((err = claim_look_up(s, tip, it, now, &look)) < 0)
		return err;
	switch (look.state) {
	case CLAIM_ANSWERED:
	case CLAIM_OTHER_LIVE:
		it->claimed_elsewhere = true;
		return RB_OK;
	case CLAIM_OURS:
		if (look.expires - (int64_t)claim_margin(s) > now + (int64_t)claim_margin(s)) {
			it->claim_expires = look.expires;
			return RB_OK;
		}
		break;
	case CLAIM_OTHER_EXPIRED:
		signd_log(s, "event=claim-takeover node=%s build=%s from=%s generation=%u", it->node->name,
			  it->build_id, look.holder, look.next_gen);
		break;
	case CLAIM_NONE:
		break;
	}
	snprintf(c.node, sizeof(c.node), "%s", it->node->name);
	snprintf(c.build_id, sizeof(c.build_id), "%s", it->build_id);
	snprintf(c.sign_node, sizeof(c.sign_node), "%s", s->pub.sign_node);
	snprintf(c.origin, sizeof(c.origin), "%s", s->aw.origin);
	memcpy(c.instance, s->pub.instance, CLAIM_INSTANCE_LEN);
	memcpy(c.request_sha256, it->doc_sha256, 32);
	c.generation = look.next_gen;
	c.claimed = now;
	c.expires = now + (int64_t)s->cfg->queue.claim_seconds;
	if ((err = claim_path(c.node, c.build_id, c.generation, r->paths[r->n], sizeof(r->paths[r->n]))) < 0 ||
	    (err = claim_doc_emit(&c, &r->bufs[r->n])) < 0)
		return err;
	r->files[r->n] = (struct queue_file){ r->paths[r->n], r->bufs[r->n].data, r->bufs[r->n].len };
	r->n++;
	it->claim_expires = c.expires;
	return RB_OK;
}

static bool claim_needs_hsm(const struct signd_item *it)
{
	for (size_t i = 0; i < it->doc->n_entries; i++)
		if (!it->reason[i])
			return true;
	return false;
}

static int claim_files(void *ctx, const char *tip, const struct queue_file **ret, size_t *ret_n)
{
	struct claim_round *r = ctx;
	int64_t now = (int64_t)time(NULL);
	int err;

	claim_round_reset(r);
	for (size_t k = 0; k < r->done; k++) {
		struct signd_item *it = &r->b->items[k];

		/* Left to another node at intake: not bounded for this batch. */
		if (it->peeked_elsewhere)
			continue;
		it->claimed_elsewhere = false;
		it->claim_expires = 0;
		/* Only what goes to the HSM is claimed: an answer of rejections
		 * alone is published only if the build has no response and no
		 * claim by then (signd_claim_still_ours), which keeps it to one
		 * response without a commit of its own. */
		if (!signd_item_answered(it) || !claim_needs_hsm(it))
			continue;
		if ((err = claim_item(r, tip, it, now)) < 0)
			return err;
	}
	*ret = r->files;
	*ret_n = r->n;
	return RB_OK;
}

int signd_claim_batch(struct signd *s, struct signd_batch *b, size_t done, struct signd_stats *st)
{
	struct claim_round r = { s, b, done, NULL, NULL, NULL, 0 };
	char message[160], commit[QUEUE_OID_HEX + 1];
	size_t elsewhere = 0;
	int err;

	b->lease_end = INT64_MAX;
	if (!done)
		return RB_OK;
	r.files = calloc(done, sizeof(*r.files));
	r.bufs = calloc(done, sizeof(*r.bufs));
	r.paths = calloc(done, sizeof(*r.paths));
	if (!r.files || !r.bufs || !r.paths) {
		err = RB_E_NOMEM;
		goto out;
	}
	snprintf(message, sizeof(message), "rombsr sign: claims by sign node %s\n", s->pub.sign_node);
	err = queue_publish_with(s->q, claim_files, &r, message, "rombsr sign node", "sign@rombsr.invalid",
				 signd_sign_commit, s, commit);
	if (err < 0)
		goto out;
	for (size_t k = 0; k < done; k++) {
		struct signd_item *it = &b->items[k];

		if (it->claimed_elsewhere) {
			elsewhere++;
			continue;
		}
		if (signd_item_answered(it) && it->claim_expires &&
		    it->claim_expires - (int64_t)claim_margin(s) < b->lease_end)
			b->lease_end = it->claim_expires - (int64_t)claim_margin(s);
	}
	st->claimed = r.n;
	st->claimed_elsewhere = elsewhere;
	if (r.n || elsewhere)
		signd_log(s, "event=claim claimed=%zu elsewhere=%zu commit=%.12s", r.n, elsewhere,
			  commit[0] ? commit : "none");
out:
	claim_round_reset(&r);
	free(r.files);
	free(r.bufs);
	free(r.paths);
	return err;
}

int signd_lease_check(const struct signd *s, const struct signd_batch *b)
{
	if ((int64_t)time(NULL) < b->lease_end)
		return RB_OK;
	return rb_err_set(RB_E_AGAIN, "this batch's claims end within %u s (queue.claimSeconds %u): nothing "
			  "more is signed under them; the next batch claims again", claim_margin(s),
			  s->cfg->queue.claim_seconds);
}

int signd_claim_peek(struct signd *s, const char *tip, struct signd_item *it, int64_t now)
{
	struct claim_look look;
	int err;

	if ((err = claim_look_up(s, tip, it, now, &look)) < 0)
		return err;
	it->claimed_elsewhere = it->peeked_elsewhere = look.state == CLAIM_OTHER_LIVE ||
							 look.state == CLAIM_ANSWERED;
	return RB_OK;
}

int signd_claim_still_ours(struct signd *s, const char *tip, const struct signd_item *it, bool *ret)
{
	struct claim_look look;
	int err;

	if ((err = claim_look_up(s, tip, it, (int64_t)time(NULL), &look)) < 0)
		return err;
	/* An answer this node did not claim (rejections only) goes out only
	 * if nobody answered or claimed the build meanwhile. */
	*ret = it->claim_expires ? look.state == CLAIM_OURS : look.state == CLAIM_NONE;
	return RB_OK;
}
