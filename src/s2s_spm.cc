// The C API of s2s_spm.h over SentencePiece (Debian's libsentencepiece-dev): the only C++ file.
// Every entry point catches every exception (std::bad_alloc, std::length_error...) and turns it
// into S2S_ERR with a message; SentencePiece's own util::Status errors become messages too.
#include "s2s_spm.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <unordered_map>
#include <vector>

struct s2s_spm {
    sentencepiece::SentencePieceProcessor proc;
};

namespace {

// The trainer's sentences, handed over one by one without copying the corpus.
class Sentences : public sentencepiece::SentenceIterator {
  public:
    Sentences(const char *const *s, size_t n) : s_(s), n_(n) { load(); }
    bool done() const override { return i_ >= n_; }
    void Next() override { i_++; load(); }
    const std::string &value() const override { return cur_; }
    sentencepiece::util::Status status() const override { return sentencepiece::util::Status(); }

  private:
    void load() { if (i_ < n_) cur_.assign(s_[i_]); }
    const char *const *s_;
    size_t n_, i_ = 0;
    std::string cur_;
};

int status_err(const sentencepiece::util::Status &st, const char *what, s2s_err *err) {
    return s2s_errf(err, "SentencePiece: %s: %.400s", what, st.error_message());
}

int exception_err(const char *what, s2s_err *err) {
    try {
        throw;
    } catch (const std::bad_alloc &) {
        return s2s_errf(err, "SentencePiece: %s: out of memory", what);
    } catch (const std::exception &e) {
        return s2s_errf(err, "SentencePiece: %s: %.400s", what, e.what());
    } catch (...) {
        return s2s_errf(err, "SentencePiece: %s: unknown error", what);
    }
}

char *copy_out(const std::string &s, s2s_err *err, const char *what) {
    char *p = static_cast<char *>(s2s_malloc(s.size() + 1, err, what));
    if (p) { std::memcpy(p, s.data(), s.size()); p[s.size()] = 0; }
    return p;
}

}  // namespace

extern "C" int s2s_spm_train(const char *const *sentences, size_t n, const s2s_spm_train_opts *o, char **proto,
                             size_t *len, s2s_err *err) {
    *proto = nullptr;
    *len = 0;
    try {
        char num[3][32];
        std::snprintf(num[0], sizeof num[0], "%d", o->vocab_size);
        std::snprintf(num[1], sizeof num[1], "%.17g", o->char_coverage);
        std::snprintf(num[2], sizeof num[2], "%d", o->threads);
        // hard_vocab_limit=false: vocab_size is an upper bound, so that a small corpus trains
        // rather than failing with "vocabulary size too high"; minloglevel=2: the library
        // does not print (warnings and progress off; errors come back as the status).
        std::unordered_map<std::string, std::string> kw = {
            {"model_type", o->algo == S2S_SPM_BPE ? "bpe" : "unigram"},
            {"vocab_size", num[0]}, {"character_coverage", num[1]}, {"num_threads", num[2]},
            {"hard_vocab_limit", "false"}, {"minloglevel", "2"},
            {"unk_id", "0"}, {"pad_id", "1"}, {"bos_id", "2"}, {"eos_id", "3"},
            {"unk_piece", "<unk>"}, {"pad_piece", "<pad>"}, {"bos_piece", "<bos>"}, {"eos_piece", "<eos>"},
        };
        Sentences it(sentences, n);
        std::string out;
        auto st = sentencepiece::SentencePieceTrainer::Train(kw, &it, &out);
        if (!st.ok()) return status_err(st, "training", err);
        if (!(*proto = copy_out(out, err, "the SentencePiece model"))) return S2S_ERR;
        *len = out.size();
        return S2S_OK;
    } catch (...) {
        return exception_err("training", err);
    }
}

extern "C" int s2s_spm_load(const void *proto, size_t len, s2s_spm **out, s2s_err *err) {
    *out = nullptr;
    s2s_spm *sp = nullptr;
    try {
        sp = new s2s_spm;
        auto st = sp->proc.LoadFromSerializedProto(std::string_view(static_cast<const char *>(proto), len));
        if (!st.ok()) {
            delete sp;
            // a protobuf that does not parse has no message worth showing (a source line)
            if (std::strstr(st.error_message(), "ParseFromArray"))
                return s2s_errf(err, "not a SentencePiece model (%zu bytes that are not a ModelProto)", len);
            return status_err(st, "loading the model", err);
        }
        if (sp->proc.GetPieceSize() < 1 || sp->proc.unk_id() < 0 || sp->proc.unk_id() >= sp->proc.GetPieceSize()) {
            delete sp;
            return s2s_errf(err, "SentencePiece: the model has no unknown piece");
        }
        *out = sp;
        return S2S_OK;
    } catch (...) {
        delete sp;
        return exception_err("loading the model", err);
    }
}

extern "C" void s2s_spm_free(s2s_spm *sp) { delete sp; }

extern "C" int s2s_spm_size(const s2s_spm *sp) { return sp->proc.GetPieceSize(); }

extern "C" int s2s_spm_unk(const s2s_spm *sp) { return sp->proc.unk_id(); }

extern "C" const char *s2s_spm_piece(const s2s_spm *sp, int id, size_t *len) {
    if (id < 0 || id >= sp->proc.GetPieceSize()) { *len = 0; return ""; }
    const std::string &p = sp->proc.IdToPiece(id);
    *len = p.size();
    return p.c_str();
}

extern "C" s2s_spm_kind s2s_spm_kind_of(const s2s_spm *sp, int id) {
    if (id < 0 || id >= sp->proc.GetPieceSize()) return S2S_SPM_UNUSED;
    if (sp->proc.IsUnknown(id)) return S2S_SPM_UNKNOWN;
    if (sp->proc.IsControl(id)) return S2S_SPM_CONTROL;
    if (sp->proc.IsUnused(id)) return S2S_SPM_UNUSED;
    if (sp->proc.IsByte(id)) return S2S_SPM_BYTE;
    // the processor's API has no predicate for user-defined pieces: they count as normal
    return S2S_SPM_NORMAL;
}

extern "C" int s2s_spm_encode(const s2s_spm *sp, const char *text, size_t len, int32_t *ids, int cap,
                              s2s_err *err) {
    try {
        std::vector<int> v;
        auto st = sp->proc.Encode(std::string_view(text, len), &v);
        if (!st.ok()) return status_err(st, "encoding", err);
        if (v.size() > 0x7fffffffu - 1) return s2s_errf(err, "SentencePiece: encoding: too many pieces");
        for (size_t i = 0; i < v.size() && i < static_cast<size_t>(cap > 0 ? cap : 0); i++) ids[i] = v[i];
        return static_cast<int>(v.size());
    } catch (...) {
        return exception_err("encoding", err);
    }
}

extern "C" int s2s_spm_encode_pieces(const s2s_spm *sp, const char *text, size_t len, char ***pieces, int *n,
                                     s2s_err *err) {
    *pieces = nullptr;
    *n = 0;
    try {
        std::vector<std::string> v;
        auto st = sp->proc.Encode(std::string_view(text, len), &v);
        if (!st.ok()) return status_err(st, "encoding", err);
        if (v.size() > 0x7fffffffu - 1) return s2s_errf(err, "SentencePiece: encoding: too many pieces");
        size_t bytes = (v.size() + 1) * sizeof(char *);
        for (const auto &p : v) bytes += p.size() + 1;
        char **arr = static_cast<char **>(s2s_malloc(bytes, err, "the pieces"));
        if (!arr) return S2S_ERR;
        char *s = reinterpret_cast<char *>(arr + v.size() + 1);
        for (size_t i = 0; i < v.size(); i++) {
            arr[i] = s;
            std::memcpy(s, v[i].data(), v[i].size());
            s[v[i].size()] = 0;
            s += v[i].size() + 1;
        }
        arr[v.size()] = nullptr;
        *pieces = arr;
        *n = static_cast<int>(v.size());
        return S2S_OK;
    } catch (...) {
        return exception_err("encoding", err);
    }
}

extern "C" int s2s_spm_decode(const s2s_spm *sp, const int32_t *ids, int n, char **text, s2s_err *err) {
    *text = nullptr;
    try {
        const int size = sp->proc.GetPieceSize();
        std::vector<int> v(ids, ids + (n > 0 ? n : 0));
        for (int id : v)
            if (id < 0 || id >= size)
                return s2s_errf(err, "SentencePiece: decoding: id %d is outside 0..%d", id, size - 1);
        std::string out;
        auto st = sp->proc.Decode(v, &out);
        if (!st.ok()) return status_err(st, "decoding", err);
        return (*text = copy_out(out, err, "the decoded text")) ? S2S_OK : S2S_ERR;
    } catch (...) {
        return exception_err("decoding", err);
    }
}
