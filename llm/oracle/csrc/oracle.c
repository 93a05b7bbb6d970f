// oracle: runs llama.cpp (the build shipped in npm's node-llama-cpp) on a
// GGUF file, for the Velocity LLM engine's agreement tests and benchmark.
// Built by llm/oracle against the headers of the exact llama.cpp release in
// that package (extracted from its git bundle), so that the parameter
// structs passed by value match the library.
//
//   oracle logits   MODEL THREADS       < token ids   → float32 logits of every position (binary)
//   oracle generate MODEL THREADS N     < token ids   → N greedy token ids
//   oracle tokenize MODEL               < NUL-separated UTF-8 texts → one line of token ids per text (special tokens parsed)
//   oracle bench    MODEL THREADS NP NG               → "prefill_tps decode_tps"
//
// The library directory (holding libggml-cpu-*.so) comes from $ORACLE_LIBDIR.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llama.h"
#include "ggml-backend.h"

static void errors_only(enum ggml_log_level level, const char *text, void *ud) {
	(void)ud;
	if (level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

static void die(const char *msg) {
	fprintf(stderr, "oracle: %s\n", msg);
	exit(1);
}

static char *read_all(size_t *len) {
	size_t cap = 1 << 16, n = 0;
	char *b = malloc(cap);
	size_t r;
	while ((r = fread(b + n, 1, cap - n, stdin)) > 0) {
		n += r;
		if (n == cap) b = realloc(b, cap *= 2);
	}
	*len = n;
	return b;
}

static llama_token *read_tokens(int *n) {
	int cap = 1024;
	llama_token *t = malloc(cap * sizeof *t);
	*n = 0;
	int v;
	while (scanf("%d", &v) == 1) {
		if (*n == cap) t = realloc(t, (cap *= 2) * sizeof *t);
		t[(*n)++] = v;
	}
	return t;
}

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// decode evaluates n tokens starting at position pos; with all set every
// position's logits are kept, otherwise only the last one's.
static void decode(struct llama_context *ctx, const llama_token *tok, int n, int pos, int all) {
	struct llama_batch b = llama_batch_init(n, 0, 1);
	for (int i = 0; i < n; i++) {
		b.token[i] = tok[i];
		b.pos[i] = pos + i;
		b.n_seq_id[i] = 1;
		b.seq_id[i][0] = 0;
		b.logits[i] = all || i == n - 1;
	}
	b.n_tokens = n;
	if (llama_decode(ctx, b) != 0) die("llama_decode failed");
	llama_batch_free(b);
}

static int argmax(const float *x, int n) {
	int best = 0;
	for (int i = 1; i < n; i++)
		if (x[i] > x[best]) best = i;
	return best;
}

int main(int argc, char **argv) {
	if (argc < 3) die("usage: oracle logits|generate|tokenize|bench MODEL ...");
	const char *mode = argv[1], *path = argv[2];
	const char *libdir = getenv("ORACLE_LIBDIR");
	if (!libdir) die("ORACLE_LIBDIR not set");
	llama_log_set(errors_only, NULL);
	ggml_backend_load_all_from_path(libdir);
	llama_backend_init();

	struct llama_model_params mp = llama_model_default_params();
	mp.n_gpu_layers = 0;
	mp.vocab_only = strcmp(mode, "tokenize") == 0;
	int bench = strcmp(mode, "bench") == 0;
	// For comparisons, no weight repacking into interleaved layouts
	// (llama.cpp's "extra buffer types"): the plain per-row AVX2 dot
	// products are the ones the engine mirrors, so that float sums are taken
	// in the same order. The benchmark keeps llama.cpp's defaults: its
	// fastest path.
	if (!bench) mp.use_extra_bufts = false;
	struct llama_model *model = llama_model_load_from_file(path, mp);
	if (!model) die("cannot load model");
	const struct llama_vocab *vocab = llama_model_get_vocab(model);
	int nv = llama_vocab_n_tokens(vocab);

	if (strcmp(mode, "tokenize") == 0) {
		size_t len;
		char *all = read_all(&len);
		int cap = (int)len + 16;
		llama_token *t = malloc(cap * sizeof *t);
		for (char *text = all; text <= all + len;) {
			char *end = memchr(text, 0, all + len - text);
			if (!end) end = all + len;
			int n = llama_tokenize(vocab, text, (int)(end - text), t, cap, false, true);
			if (n < 0) die("llama_tokenize failed");
			for (int i = 0; i < n; i++) printf(i ? " %d" : "%d", t[i]);
			printf("\n");
			text = end + 1;
		}
		return 0;
	}
	if (argc < 4) die("missing THREADS");
	int threads = atoi(argv[3]);

	int n = 0;
	llama_token *tok = NULL;
	int np = 0, ng = 0;
	if (bench) {
		if (argc < 6) die("usage: oracle bench MODEL THREADS NPROMPT NGEN");
		np = atoi(argv[4]);
		ng = atoi(argv[5]);
		tok = malloc(np * sizeof *tok);
		srand(1);
		for (int i = 0; i < np; i++) tok[i] = rand() % nv;
		n = np;
	} else {
		tok = read_tokens(&n);
		if (n == 0) die("no tokens on stdin");
	}
	int gen = strcmp(mode, "generate") == 0 ? atoi(argc > 4 ? argv[4] : "0") : 0;

	struct llama_context_params cp = llama_context_default_params();
	cp.n_ctx = n + gen + ng + 16;
	cp.n_batch = cp.n_ubatch = n;
	cp.n_threads = cp.n_threads_batch = threads;
	cp.no_perf = true;
	// Flash attention off for comparisons: its CPU kernel accumulates V in
	// f16, which is noise the comparison does not need; the classic path is
	// exact math (f16 K, V and probabilities, f32 sums) that the engine
	// mirrors. The benchmark keeps the default.
	if (!bench) cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
	struct llama_context *ctx = llama_init_from_model(model, cp);
	if (!ctx) die("cannot create context");

	if (strcmp(mode, "logits") == 0) {
		decode(ctx, tok, n, 0, 1);
		for (int i = 0; i < n; i++) fwrite(llama_get_logits_ith(ctx, i), sizeof(float), nv, stdout);
	} else if (strcmp(mode, "generate") == 0) {
		decode(ctx, tok, n, 0, 0);
		int pos = n;
		for (int i = 0; i < gen; i++) {
			llama_token t = argmax(llama_get_logits_ith(ctx, -1), nv);
			printf("%d\n", t);
			decode(ctx, &t, 1, pos++, 0);
		}
	} else if (strcmp(mode, "bench") == 0) {
		double t0 = now();
		decode(ctx, tok, np, 0, 0);
		double t1 = now();
		llama_token t = argmax(llama_get_logits_ith(ctx, -1), nv);
		for (int i = 0; i < ng; i++) {
			decode(ctx, &t, 1, np + i, 0);
			t = argmax(llama_get_logits_ith(ctx, -1), nv);
		}
		double t2 = now();
		printf("%.3f %.3f\n", np / (t1 - t0), ng / (t2 - t1));
	} else {
		die("unknown mode");
	}
	llama_free(ctx);
	llama_model_free(model);
	return 0;
}
