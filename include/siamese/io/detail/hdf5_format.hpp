#pragma once
// The HDF5 file format, as far as weight files need it: a self-contained reader of what h5py, Keras and the HDF5
// C library write. Superblocks 0 to 3, object headers 1 and 2 with continuations, old-style groups (symbol table,
// v1 B-tree, local heap) and new-style ones (link messages, or dense links in a fractal heap indexed by a v2
// B-tree), attributes in the header or dense, fixed- and variable-length string attributes (global heap), and
// IEEE float datasets stored compact, contiguous or chunked (v1 B-tree; single chunk, implicit, fixed array,
// extensible array or v2 B-tree index) through deflate, shuffle and fletcher32.
//
// The file is read into memory once. Every offset, length and count read from it is checked against its size by
// a Cursor that throws FileError, every walk of a linked structure remembers the blocks it has visited, and two
// budgets derived from the file size bound what one file may cost: the bytes of values it may produce or inflate
// (about what deflate's best ratio allows) and the number of structures it may make the reader visit.
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../../core/errors.hpp"

#include "half.hpp"
#include "inflate.hpp"

namespace siamese::detail::h5 {

inline constexpr std::uint64_t undef = ~std::uint64_t{0};            // HDF5's undefined address
inline constexpr std::uint64_t max_file_bytes = std::uint64_t{1} << 34;  // 16 GiB: refuse larger files
inline constexpr std::size_t max_list = std::size_t{1} << 16;         // attributes, links or strings of one object
inline constexpr unsigned max_rank = 32;

inline std::string num(std::uint64_t v) { return std::to_string(v); }
inline unsigned log2_floor(std::uint64_t v) { return v == 0 ? 0 : 63 - unsigned(std::countl_zero(v)); }
/// Bytes that encode values up to v (HDF5's H5VM_limit_enc_size).
inline unsigned enc_size(std::uint64_t v) { return log2_floor(v) / 8 + 1; }
inline std::uint64_t pad8(std::uint64_t n) { return (n + 7) & ~std::uint64_t{7}; }
/// a * b, or undef when it overflows.
inline std::uint64_t mul(std::uint64_t a, std::uint64_t b) { return a != 0 && b > undef / a ? undef : a * b; }

class Cursor;

/// The whole file, the widths of its addresses and lengths (from the superblock), and the budgets.
class File {
 public:
  File(const std::filesystem::path& path, std::string where) : where_(std::move(where)) {
    std::error_code ec;
    const std::uintmax_t n = std::filesystem::file_size(path, ec);
    if (ec) throw FileError(where_ + "cannot open file");
    if (n > max_file_bytes)
      throw FileError(where_ + "file of " + num(n) + " bytes is larger than the " + num(max_file_bytes) +
                      " bytes this reader accepts");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw FileError(where_ + "cannot open file");
    bytes_.resize(static_cast<std::size_t>(n));
    if (n != 0 && !in.read(bytes_.data(), static_cast<std::streamsize>(n))) throw FileError(where_ + "read error");
    data_left_ = 1100 * n + (std::uint64_t{1} << 20);  // deflate expands at most ~1032:1
    inflate_left_ = data_left_;
    steps_left_ = 4 * n + (std::uint64_t{1} << 20);  // a weight file needs about one per 8 bytes
  }

  const std::string& where() const { return where_; }
  std::uint64_t size() const { return bytes_.size(); }
  const char* data(std::uint64_t pos) const { return bytes_.data() + pos; }

  [[noreturn]] void fail(const std::string& ctx, const std::string& what) const {
    throw FileError(where_ + (ctx.empty() ? "" : ctx + ": ") + what);
  }
  /// A cursor over [addr, addr + n), which must lie in the file.
  Cursor at(std::uint64_t addr, std::uint64_t n, const std::string& ctx) const;
  /// A cursor from addr to the end of the file.
  Cursor from(std::uint64_t addr, const std::string& ctx) const;

  /// Counts n visits of file structures; a file that makes the reader visit far more than its size justifies
  /// (shared subtrees, lists referenced over and over) is refused.
  void step(std::uint64_t n, const std::string& ctx) {
    if (n > steps_left_) fail(ctx, "the file's structures reference each other too often to be a weight file; refusing");
    steps_left_ -= n;
  }
  /// Counts bytes of values handed out (the arrays) and bytes inflated or copied from chunks.
  void produce(std::uint64_t n, const std::string& ctx) {
    if (n > data_left_)
      fail(ctx, "claims " + (n == undef ? std::string("an overflowing number of") : num(n)) +
                    " bytes of values, more than a file of " + num(size()) +
                    " bytes can hold even deflated; refusing to allocate");
    data_left_ -= n;
  }
  void inflate(std::uint64_t n, const std::string& ctx) {
    if (n > inflate_left_)
      fail(ctx, "its chunks unpack to more bytes than a file of " + num(size()) + " bytes can hold; refusing");
    inflate_left_ -= n;
  }

  unsigned so = 8, sl = 8;  // sizes of offsets (addresses) and lengths
  std::uint64_t base = 0;   // where the superblock lies: addresses count from there

 private:
  std::string where_, bytes_;
  std::uint64_t data_left_ = 0, inflate_left_ = 0, steps_left_ = 0;
};

/// Reads little-endian fields from [pos, end) of the file; any read past end throws FileError naming `ctx`.
class Cursor {
 public:
  Cursor(const File& f, std::uint64_t pos, std::uint64_t end, std::string ctx)
      : f_(&f), pos_(pos), end_(end), ctx_(std::move(ctx)) {}

  const File& file() const { return *f_; }
  const std::string& ctx() const { return ctx_; }
  std::uint64_t pos() const { return pos_; }
  std::uint64_t end() const { return end_; }
  std::uint64_t left() const { return end_ - pos_; }
  [[noreturn]] void fail(const std::string& what) const { f_->fail(ctx_, what); }

  void need(std::uint64_t n) const {
    if (n > left())
      fail("truncated: needs " + num(n) + " bytes at byte " + num(pos_) + ", " + num(left()) + " left" +
           (end_ == f_->size() ? " in the file" : " in the block"));
  }
  std::uint64_t uint(unsigned n) {
    need(n);
    std::uint64_t v = 0;
    for (unsigned i = 0; i < n && i < 8; ++i) v |= std::uint64_t(static_cast<unsigned char>(*f_->data(pos_ + i))) << (8 * i);
    pos_ += n;
    return v;
  }
  std::uint8_t u8() { return static_cast<std::uint8_t>(uint(1)); }
  std::uint16_t u16() { return static_cast<std::uint16_t>(uint(2)); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(uint(4)); }
  std::uint64_t u64() { return uint(8); }
  /// A file address: undef, or an absolute position (which may still lie outside the file: File::at checks).
  std::uint64_t addr() {
    const unsigned n = f_->so;
    const std::uint64_t v = uint(n), all = n >= 8 ? undef : (std::uint64_t{1} << (8 * n)) - 1;
    if (v == all) return undef;
    return v > undef - 1 - f_->base ? undef - 1 : v + f_->base;
  }
  std::uint64_t length() { return uint(f_->sl); }
  void skip(std::uint64_t n) {
    need(n);
    pos_ += n;
  }
  std::string_view bytes(std::uint64_t n) {
    need(n);
    const std::string_view s(f_->data(pos_), static_cast<std::size_t>(n));
    pos_ += n;
    return s;
  }
  /// The next n bytes as a cursor of their own (this one moves past them).
  Cursor take(std::uint64_t n) {
    need(n);
    Cursor c(*f_, pos_, pos_ + n, ctx_);
    pos_ += n;
    return c;
  }
  bool peek(std::string_view sig) const {
    return left() >= sig.size() && std::string_view(f_->data(pos_), sig.size()) == sig;
  }
  void signature(std::string_view sig) {
    if (!peek(sig)) fail("no '" + std::string(sig) + "' signature at byte " + num(pos_) + ": not the block expected");
    pos_ += sig.size();
  }
  void version(unsigned want) {
    const unsigned v = u8();
    if (v != want) fail("unknown version " + num(v) + " (expected " + num(want) + ")");
  }

 private:
  const File* f_;
  std::uint64_t pos_, end_;
  std::string ctx_;
};

inline Cursor File::at(std::uint64_t addr, std::uint64_t n, const std::string& ctx) const {
  if (addr == undef) fail(ctx, "undefined address");
  if (addr > size() || n > size() - addr)
    fail(ctx, "needs " + num(n) + " bytes at byte " + num(addr) + ", beyond the end of the file (" + num(size()) +
                  " bytes)");
  return Cursor(*this, addr, addr + n, ctx);
}
inline Cursor File::from(std::uint64_t addr, const std::string& ctx) const {
  if (addr == undef) fail(ctx, "undefined address");
  if (addr >= size()) fail(ctx, "address " + num(addr) + " lies beyond the end of the file (" + num(size()) + " bytes)");
  return Cursor(*this, addr, size(), ctx);
}

// ---- superblock ---------------------------------------------------------------------------------------------

/// Finds the superblock (at 0, 512, 1024, ...: a user block may precede it), sets the file's address and length
/// widths and base, and returns the root group's object header address.
inline std::uint64_t superblock(File& f) {
  static constexpr char sig[8] = {'\x89', 'H', 'D', 'F', '\r', '\n', '\x1a', '\n'};
  std::uint64_t off = 0;
  while (off + 8 > f.size() || std::memcmp(f.data(off), sig, 8) != 0) {
    off = off == 0 ? 512 : off * 2;
    if (off + 8 > f.size()) throw FileError(f.where() + "not an HDF5 file");
  }
  Cursor c = f.from(off + 8, "superblock at byte " + num(off));
  const unsigned version = c.u8();
  auto widths = [&](unsigned so, unsigned sl) {
    for (unsigned w : {so, sl})
      if (w != 2 && w != 4 && w != 8) c.fail("addresses or lengths of " + num(w) + " bytes are not supported (2, 4 or 8)");
    f.so = so;
    f.sl = sl;
    f.base = off;
  };
  std::uint64_t eof = undef, root = undef;
  if (version <= 1) {
    c.skip(4);  // free-space, root group symbol table and shared header message versions, reserved
    const unsigned so = c.u8(), sl = c.u8();
    widths(so, sl);
    c.skip(1 + 4 + 4 + (version == 1 ? 4 : 0));  // reserved, group B-tree K values, flags, chunk B-tree K
    c.addr();                                    // base address: the superblock's position is used, as libhdf5 does
    c.addr();                                    // free-space info
    eof = c.uint(f.so);                          // end of file: counted from the file's start, user block included
    c.addr();          // driver info
    c.uint(f.so);      // root group symbol table entry: link name offset,
    root = c.addr();   // object header address
  } else if (version <= 3) {
    const unsigned so = c.u8(), sl = c.u8();
    widths(so, sl);
    c.skip(1);  // flags
    c.addr();   // base address
    c.addr();   // superblock extension
    eof = c.uint(f.so);
    root = c.addr();
  } else {
    c.fail("unknown superblock version " + num(version));
  }
  if (eof != (f.so >= 8 ? undef : (std::uint64_t{1} << (8 * f.so)) - 1) && eof > f.size())
    c.fail("truncated file: the superblock says it ends at byte " + num(eof) + ", it has " + num(f.size()) + " bytes");
  if (root == undef) c.fail("no root group");
  return root;
}

// ---- object headers -----------------------------------------------------------------------------------------

enum Msg : std::uint16_t {
  kDataspace = 0x01, kLinkInfo = 0x02, kDatatype = 0x03, kLink = 0x06, kLayout = 0x08, kPipeline = 0x0B,
  kAttribute = 0x0C, kContinuation = 0x10, kSymbolTable = 0x11, kAttributeInfo = 0x15,
};

/// One header message: its type, flags, and where its data lies in the file.
struct Message {
  std::uint16_t type;
  std::uint8_t flags;
  std::uint64_t pos, size;
};

/// The messages of the object header at addr (version 1 or 2), continuation blocks included.
inline std::vector<Message> object_header(File& f, std::uint64_t addr, const std::string& ctx) {
  const std::string here = ctx + ": object header at byte " + (addr == undef ? std::string("(undefined)") : num(addr));
  Cursor c = f.from(addr, here);
  struct Block {
    std::uint64_t pos, size;
    bool ochk;
  };
  std::vector<Block> todo;
  std::set<std::uint64_t> seen{addr};
  bool v2 = false;
  unsigned flags = 0;
  if (c.peek("OHDR")) {
    v2 = true;
    c.skip(4);
    c.version(2);
    flags = c.u8();
    if (flags & 0x20) c.skip(16);  // times
    if (flags & 0x10) c.skip(4);   // attribute phase change values
    const std::uint64_t n = c.uint(1u << (flags & 3));
    todo.push_back({c.pos(), n, false});
  } else {
    const unsigned version = c.u8();
    if (version != 1) c.fail("not an object header (unknown version " + num(version) + ")");
    c.skip(1 + 2 + 4);  // reserved, message count, reference count
    const std::uint64_t n = c.u32();
    c.skip(4);  // alignment
    todo.push_back({c.pos(), n, false});
  }
  const unsigned head = v2 ? ((flags & 0x04) ? 6 : 4) : 8;
  std::vector<Message> out;
  for (std::size_t i = 0; i < todo.size(); ++i) {
    const Block b = todo[i];
    const std::string bctx = i == 0 ? here : here + ": continuation block at byte " + num(b.pos);
    Cursor m = f.at(b.pos, b.size, bctx);
    if (b.ochk) {
      if (b.size < 8) m.fail("continuation block of " + num(b.size) + " bytes is too small");
      m.signature("OCHK");
      m = Cursor(f, m.pos(), m.end() - 4, bctx);  // the checksum follows the messages
    }
    while (m.left() >= head) {
      Message msg{};
      if (v2) {
        msg.type = m.u8();
        msg.size = m.u16();
        msg.flags = m.u8();
        if (flags & 0x04) m.skip(2);  // creation order
      } else {
        msg.type = m.u16();
        msg.size = m.u16();
        msg.flags = m.u8();
        m.skip(3);
      }
      msg.pos = m.pos();
      if (msg.size > m.left())
        m.fail("message of type " + num(msg.type) + " and " + num(msg.size) + " bytes at byte " + num(msg.pos) +
               " overruns its block");
      m.skip(msg.size);
      f.step(1, here);
      if (msg.type == kContinuation) {
        Cursor k(f, msg.pos, msg.pos + msg.size, bctx);
        const std::uint64_t at = k.addr(), n = k.length();
        if (at == undef) k.fail("continuation to an undefined address");
        if (!seen.insert(at).second) k.fail("continuation to byte " + num(at) + " loops back to a block already read");
        todo.push_back({at, n, v2});
      } else if (msg.type != 0) {
        out.push_back(msg);
      }
    }
  }
  return out;
}

inline const Message* find_message(const std::vector<Message>& msgs, std::uint16_t type) {
  for (const auto& m : msgs)
    if (m.type == type) return &m;
  return nullptr;
}

inline Cursor message_cursor(const File& f, const Message& m, const std::string& ctx, const char* what) {
  if (m.flags & 0x02)
    f.fail(ctx, std::string("its ") + what + " message is shared (committed or in a shared message table), which is not supported");
  return Cursor(f, m.pos, m.pos + m.size, ctx + ": " + what + " message at byte " + num(m.pos));
}

// ---- B-trees --------------------------------------------------------------------------------------------------

/// Walks a version 1 B-tree of the given node type (0: group, 1: chunks) and calls
/// entry(key, child) for each entry of its leaves, with a cursor over the key that precedes the child.
template <class F>
void walk_btree1(File& f, std::uint64_t root, unsigned type, std::uint64_t key_size, const std::string& ctx, F&& entry) {
  struct Node {
    std::uint64_t addr;
    int level;
  };
  std::vector<Node> stack{{root, -1}};
  std::set<std::uint64_t> seen;
  while (!stack.empty()) {
    const Node n = stack.back();
    stack.pop_back();
    const std::string here = ctx + ": B-tree node at byte " + num(n.addr);
    if (!seen.insert(n.addr).second) f.fail(here, "the B-tree links back to a node already read");
    Cursor c = f.from(n.addr, here);
    c.signature("TREE");
    if (c.u8() != type) c.fail("a B-tree node of another kind");
    const int level = c.u8();
    const unsigned entries = c.u16();
    if ((n.level >= 0 && level != n.level) || level > 64)
      c.fail("node of level " + num(level) + " where level " + num(n.level < 0 ? 64 : n.level) + " was expected");
    c.skip(2 * std::uint64_t(f.so));  // siblings
    f.step(1 + entries, here);
    for (unsigned i = 0; i < entries; ++i) {
      Cursor key = c.take(key_size);
      const std::uint64_t child = c.addr();
      if (level > 0) stack.push_back({child, level - 1});
      else entry(key, child);
    }
  }
}

/// Walks a version 2 B-tree whose records are of the given type and calls record(cursor over one record).
template <class F>
void walk_btree2(File& f, std::uint64_t addr, unsigned type, const std::string& ctx, F&& record) {
  const std::string here = ctx + ": B-tree (v2) at byte " + num(addr);
  Cursor h = f.from(addr, here);
  h.signature("BTHD");
  h.version(0);
  if (h.u8() != type) h.fail("a B-tree of another kind (record type " + num(type) + " expected)");
  const std::uint64_t node_size = h.u32(), rec = h.u16(), depth = h.u16();
  h.skip(2);  // split and merge percentages
  const std::uint64_t root = h.addr(), root_n = h.u16();
  if (rec == 0 || node_size < 10 + rec || node_size > f.size() || depth > 32)
    h.fail("implausible node size " + num(node_size) + ", record size " + num(rec) + " or depth " + num(depth));
  if (root == undef) return;
  // Node capacities, as the format derives them from the node and record sizes (H5B2__hdr_init).
  std::vector<std::uint64_t> max_n(depth + 1), cum(depth + 1);
  std::vector<unsigned> cum_size(depth + 1, 0);
  max_n[0] = cum[0] = (node_size - 10) / rec;
  const unsigned n_size = enc_size(max_n[0]);
  for (std::uint64_t d = 1; d <= depth; ++d) {
    const std::uint64_t ptr = f.so + n_size + (d > 1 ? cum_size[d - 1] : 0);
    if (node_size < 10 + f.so + n_size) h.fail("nodes of " + num(node_size) + " bytes are too small for the tree's depth");
    max_n[d] = (node_size - 10 - f.so - n_size) / (rec + ptr);
    if (max_n[d] == 0) h.fail("nodes of " + num(node_size) + " bytes are too small for the tree's depth");
    const std::uint64_t c = mul(max_n[d] + 1, cum[d - 1]);
    cum[d] = c == undef || c + max_n[d] < c ? undef : c + max_n[d];
    cum_size[d] = std::min(8u, enc_size(cum[d]));
  }
  struct Node {
    std::uint64_t addr, n, depth;
  };
  std::vector<Node> stack{{root, root_n, depth}};
  std::set<std::uint64_t> seen;
  while (!stack.empty()) {
    const Node n = stack.back();
    stack.pop_back();
    const std::string nctx = here + ": node at byte " + num(n.addr);
    if (!seen.insert(n.addr).second) f.fail(nctx, "the B-tree links back to a node already read");
    if (n.n > max_n[n.depth]) f.fail(nctx, "claims " + num(n.n) + " records, at most " + num(max_n[n.depth]) + " fit");
    Cursor c = f.at(n.addr, node_size, nctx);
    c.signature(n.depth ? "BTIN" : "BTLF");
    c.version(0);
    if (c.u8() != type) c.fail("a node of another kind of B-tree");
    f.step(1 + n.n, nctx);
    for (std::uint64_t i = 0; i < n.n; ++i) record(c.take(rec));
    if (n.depth > 0)
      for (std::uint64_t i = 0; i <= n.n; ++i) {
        const std::uint64_t child = c.addr(), cn = c.uint(n_size);
        if (n.depth > 1) c.uint(cum_size[n.depth - 1]);
        stack.push_back({child, cn, n.depth - 1});
      }
  }
}

// ---- heaps ----------------------------------------------------------------------------------------------------

/// A fractal heap (dense links and attributes): objects named by heap IDs, in direct blocks reached through a
/// doubling table of indirect blocks, or 'huge' ones outside the heap, or 'tiny' ones inside the ID itself.
class FractalHeap {
 public:
  FractalHeap(File& f, std::uint64_t addr, std::string ctx) : f_(&f), ctx_(ctx + ": fractal heap at byte " + num(addr)) {
    Cursor c = f.from(addr, ctx_);
    c.signature("FRHP");
    c.version(0);
    id_len_ = c.u16();
    const unsigned filter_len = c.u16(), flags = c.u8();
    const std::uint64_t max_man = c.u32();
    c.length();  // next huge object ID
    huge_tree_ = c.addr();
    c.length();  // free space
    c.addr();    // free-space manager
    for (int i = 0; i < 8; ++i) c.length();  // managed, allocated, iterator offset, counts and sizes of objects
    width_ = c.u16();
    start_ = c.length();
    max_direct_ = c.length();
    const unsigned max_bits = c.u16();
    c.skip(2);  // starting rows of the root indirect block
    root_ = c.addr();
    rows_ = c.u16();
    if (filter_len != 0) c.fail("filtered fractal heaps are not supported");
    if (!std::has_single_bit(width_) || width_ > (1u << 15) || !std::has_single_bit(start_) ||
        !std::has_single_bit(max_direct_) || max_direct_ < start_ || max_direct_ > (std::uint64_t{1} << 32) ||
        max_bits == 0 || max_bits > 64 || rows_ > 64)
      c.fail("implausible doubling table (width " + num(width_) + ", blocks of " + num(start_) + " to " +
             num(max_direct_) + " bytes, " + num(max_bits) + " address bits, " + num(rows_) + " rows)");
    checksummed_ = flags & 0x02;
    off_size_ = (max_bits + 7) / 8;
    len_size_ = std::min((log2_floor(max_direct_) + 7) / 8, enc_size(max_man));
    direct_rows_ = log2_floor(max_direct_) - log2_floor(start_) + 2;
  }

  /// The object a heap ID names (id: a cursor over exactly the ID's bytes).
  Cursor object(Cursor id) {
    const unsigned b0 = id.u8();
    if ((b0 >> 6) != 0) id.fail("heap ID of unknown version " + num(b0 >> 6));
    switch ((b0 >> 4) & 3) {
      case 0: {
        const std::uint64_t off = id.uint(off_size_), len = id.uint(len_size_);
        return managed(off, len);
      }
      case 1: {
        if (id_len_ >= 1 + f_->so + f_->sl) {  // the address and length are in the ID
          const std::uint64_t a = id.addr(), n = id.length();
          return f_->at(a, n, ctx_ + ": huge object");
        }
        const std::uint64_t key = id.uint(std::min(8u, id_len_ - 1));
        load_huge();
        const auto it = huge_.find(key);
        if (it == huge_.end()) id.fail("heap ID names huge object " + num(key) + ", which the heap lacks");
        return f_->at(it->second.first, it->second.second, ctx_ + ": huge object " + num(key));
      }
      case 2: {
        std::uint64_t n = (b0 & 0x0F) + 1;
        if (id_len_ > 18) n = ((b0 & 0x0F) << 8 | id.u8()) + 1;
        return id.take(n);
      }
      default:
        id.fail("heap ID of unknown kind");
    }
  }

 private:
  /// The managed object at heap offset off: descends the doubling table to its direct block.
  Cursor managed(std::uint64_t off, std::uint64_t len) {
    const std::string octx = ctx_ + ": object at heap offset " + num(off);
    std::uint64_t block = root_, block_off = 0, size = start_;
    unsigned rows = rows_;
    while (rows > 0) {  // an indirect block of `rows` rows: each step down has fewer rows
      Cursor c = f_->from(block, octx + ": indirect block at byte " + num(block));
      c.signature("FHIB");
      c.version(0);
      c.skip(f_->so + off_size_);  // heap header address, block offset
      if (off < block_off) c.fail("heap offset lies before its block");
      const std::uint64_t rel = off - block_off, first = std::uint64_t(width_) * start_;
      unsigned row = 0;
      std::uint64_t row_start = 0, bsize = start_;
      if (rel >= first) {
        row = log2_floor(rel / first) + 1;
        row_start = first << (row - 1);
        bsize = start_ << (row - 1);
      }
      if (row >= rows) c.fail("heap offset beyond the block's " + num(rows) + " rows");
      const std::uint64_t col = (rel - row_start) / bsize;
      c.skip(mul(std::uint64_t(row) * width_ + col, f_->so));
      const std::uint64_t child = c.addr();
      if (child == undef) c.fail("heap object in a block that was never allocated");
      block = child;
      block_off += row_start + col * bsize;
      f_->step(1, octx);
      if (row < direct_rows_) {
        size = bsize;
        rows = 0;
      } else {
        rows = row - log2_floor(width_);  // rows of a child indirect block of this size
        if (rows == 0 || row < log2_floor(width_)) c.fail("implausible indirect block row " + num(row));
      }
    }
    if (block == undef) f_->fail(octx, "the heap has no blocks");
    Cursor d = f_->at(block, size, octx + ": direct block at byte " + num(block));
    d.signature("FHDB");
    d.version(0);
    d.skip(f_->so + off_size_ + (checksummed_ ? 4 : 0));
    const std::uint64_t in = off - block_off;
    if (off < block_off || in < d.pos() - block || in > size || len > size - in)
      d.fail("object of " + num(len) + " bytes at offset " + num(in) + " does not fit its block of " + num(size) + " bytes");
    return f_->at(block + in, len, octx);
  }

  void load_huge() {
    if (huge_loaded_) return;
    huge_loaded_ = true;
    if (huge_tree_ == undef) return;
    walk_btree2(*f_, huge_tree_, 1, ctx_ + ": huge objects", [&](Cursor r) {
      const std::uint64_t a = r.addr(), n = r.length(), id = r.length();
      huge_.emplace(id, std::make_pair(a, n));
    });
  }

  File* f_;
  std::string ctx_;
  unsigned id_len_ = 0, width_ = 0, rows_ = 0, off_size_ = 0, len_size_ = 0, direct_rows_ = 0;
  std::uint64_t start_ = 0, max_direct_ = 0, root_ = undef, huge_tree_ = undef;
  bool checksummed_ = false, huge_loaded_ = false;
  std::map<std::uint64_t, std::pair<std::uint64_t, std::uint64_t>> huge_;
};

/// The global heap collections that variable-length strings point into, each parsed once.
class GlobalHeaps {
 public:
  /// The bytes of object `index` of the collection at addr.
  Cursor object(File& f, std::uint64_t addr, std::uint32_t index, const std::string& ctx) {
    auto it = cols_.find(addr);
    if (it == cols_.end()) it = cols_.emplace(addr, parse(f, addr, ctx)).first;
    const auto o = it->second.find(index);
    if (o == it->second.end())
      f.fail(ctx, "global heap collection at byte " + num(addr) + " has no object " + num(index));
    return Cursor(f, o->second.first, o->second.first + o->second.second, ctx);
  }

 private:
  static std::map<std::uint32_t, std::pair<std::uint64_t, std::uint64_t>> parse(File& f, std::uint64_t addr,
                                                                               const std::string& ctx) {
    const std::string here = ctx + ": global heap collection at byte " + num(addr);
    Cursor h = f.from(addr, here);
    h.signature("GCOL");
    h.version(1);
    h.skip(3);
    const std::uint64_t size = h.length(), head = pad8(8 + f.sl);
    if (size < head) h.fail("collection of " + num(size) + " bytes is too small");
    Cursor c = f.at(addr, size, here);
    c.skip(head);
    std::map<std::uint32_t, std::pair<std::uint64_t, std::uint64_t>> out;
    while (c.left() >= head) {  // object headers are as long as the collection's, padded to 8 bytes too
      const std::uint32_t index = c.u16();
      if (index == 0) break;  // free space: the rest of the collection
      c.skip(2 + 4);          // reference count, reserved
      const std::uint64_t n = c.length();
      c.skip(head - 8 - f.sl);
      const std::uint64_t pos = c.pos();
      c.skip(n);
      c.skip(std::min(c.left(), pad8(n) - n));
      f.step(1, here);
      out.emplace(index, std::make_pair(pos, n));
    }
    return out;
  }
  std::map<std::uint64_t, std::map<std::uint32_t, std::pair<std::uint64_t, std::uint64_t>>> cols_;
};

// ---- groups ---------------------------------------------------------------------------------------------------

/// A group member: its name and object header address (undef for soft and external links).
struct Link {
  std::string name;
  std::uint64_t addr;
};

inline void check_name(const Cursor& c, std::uint64_t n) {
  if (n > max_list) c.fail("name of " + num(n) + " bytes; refusing");
}

inline Link parse_link(Cursor c) {
  c.version(1);
  const unsigned flags = c.u8();
  const unsigned type = (flags & 0x08) ? c.u8() : 0;
  if (flags & 0x04) c.skip(8);  // creation order
  if (flags & 0x10) c.skip(1);  // character set
  const std::uint64_t n = c.uint(1u << (flags & 3));
  check_name(c, n);
  Link l{std::string(c.bytes(n)), undef};
  if (type == 0) l.addr = c.addr();
  return l;
}

/// The links of a group, old style (symbol table: v1 B-tree of symbol table nodes, names in a local heap) or new
/// style (link messages in the header, or dense links in a fractal heap indexed by a v2 B-tree).
/// Fails when the object is not a group.
inline std::vector<Link> group_links(File& f, const std::vector<Message>& msgs, const std::string& ctx) {
  std::vector<Link> out;
  auto add = [&](Link l) {
    if (out.size() >= max_list) f.fail(ctx, "more than " + num(max_list) + " links; refusing");
    f.step(1 + l.name.size() / 16, ctx);
    out.push_back(std::move(l));
  };
  const Message* st = find_message(msgs, kSymbolTable);
  const Message* li = find_message(msgs, kLinkInfo);
  if (!st && !li && !find_message(msgs, kLink)) f.fail("", ctx + " is not a group");
  if (st) {
    Cursor s = message_cursor(f, *st, ctx, "symbol table");
    const std::uint64_t tree = s.addr(), heap = s.addr();
    const std::string hctx = ctx + ": local heap at byte " + num(heap);
    Cursor h = f.from(heap, hctx);
    h.signature("HEAP");
    h.version(0);
    h.skip(3);
    const std::uint64_t heap_size = h.length();
    h.length();  // free list
    const Cursor names = f.at(h.addr(), heap_size, hctx);
    auto name = [&](std::uint64_t off) {
      if (off >= names.left()) names.fail("name offset " + num(off) + " lies beyond the heap's " + num(names.left()) + " bytes");
      const std::string_view all(f.data(names.pos() + off), static_cast<std::size_t>(names.left() - off));
      const auto end = all.find('\0');
      if (end == std::string_view::npos) names.fail("name at offset " + num(off) + " is not terminated");
      check_name(names, end);
      return std::string(all.substr(0, end));
    };
    std::set<std::uint64_t> nodes;
    walk_btree1(f, tree, 0, f.sl, ctx, [&](Cursor, std::uint64_t snod) {
      const std::string nctx = ctx + ": symbol table node at byte " + num(snod);
      if (!nodes.insert(snod).second) f.fail(nctx, "listed twice in the group's B-tree");
      Cursor c = f.from(snod, nctx);
      c.signature("SNOD");
      c.version(1);
      c.skip(1);
      const unsigned n = c.u16();
      for (unsigned i = 0; i < n; ++i) {
        const std::uint64_t off = c.uint(f.so), oh = c.addr();
        c.skip(4 + 4 + 16);  // cache type, reserved, scratch pad
        add({name(off), oh});
      }
    });
  }
  for (const auto& m : msgs)
    if (m.type == kLink) add(parse_link(message_cursor(f, m, ctx, "link")));
  if (li) {
    Cursor c = message_cursor(f, *li, ctx, "link info");
    c.version(0);
    const unsigned flags = c.u8();
    if (flags & 1) c.skip(8);
    const std::uint64_t heap = c.addr(), names = c.addr();
    if (heap != undef) {
      FractalHeap fh(f, heap, ctx + ": dense links");
      walk_btree2(f, names, 5, ctx + ": link name index", [&](Cursor r) {
        r.skip(4);  // name hash
        add(parse_link(fh.object(r.take(7))));
      });
    }
  }
  return out;
}

// ---- datatypes, dataspaces, attributes ----------------------------------------------------------------------

/// The parts of a datatype the reader uses: its class (1 float, 3 string, 9 variable-length...) and size,
/// byte order for floats, padding for fixed-length strings, and whether a variable-length type is a string.
struct Datatype {
  unsigned cls = 0;
  std::uint64_t size = 0;
  bool big_endian = false, vlen_string = false;
  unsigned pad = 0;
};

inline Datatype datatype(Cursor c) {
  const unsigned b0 = c.u8(), version = b0 >> 4;
  if (version < 1 || version > 5) c.fail("unknown datatype version " + num(version));
  Datatype t;
  t.cls = b0 & 0x0F;
  const std::uint64_t bits = c.uint(3);
  t.size = c.u32();
  if (t.cls == 1) {
    if (bits & 0x40) c.fail("VAX byte order is not supported");
    t.big_endian = bits & 1;
    const unsigned offset = c.u16(), precision = c.u16(), eloc = c.u8(), esize = c.u8(), mloc = c.u8(), msize = c.u8();
    const std::uint32_t bias = c.u32();
    struct Ieee {
      unsigned size, esize, msize;
      std::uint32_t bias;
    };
    bool ok = false;
    for (const Ieee& i : {Ieee{2, 5, 10, 15}, Ieee{4, 8, 23, 127}, Ieee{8, 11, 52, 1023}})
      ok |= t.size == i.size && offset == 0 && precision == 8 * i.size && esize == i.esize && msize == i.msize &&
            mloc == 0 && eloc == i.msize && bias == i.bias && ((bits >> 8) & 0xFF) == 8 * i.size - 1 &&
            ((bits >> 4) & 3) == 2;
    if (!ok)
      c.fail("a floating-point type of " + num(t.size) + " bytes that is not IEEE binary16, binary32 or binary64");
  } else if (t.cls == 3) {
    t.pad = bits & 0x0F;
  } else if (t.cls == 9) {
    t.vlen_string = (bits & 0x0F) == 1;
  }
  return t;
}

/// Dimensions (none for a scalar) and maximum dimensions (undef: unlimited); null: no elements at all.
struct Dataspace {
  bool null = false;
  std::vector<std::uint64_t> dims, max;
};

inline Dataspace dataspace(Cursor c) {
  const unsigned version = c.u8();
  if (version != 1 && version != 2) c.fail("unknown dataspace version " + num(version));
  const unsigned rank = c.u8(), flags = c.u8();
  if (rank > max_rank) c.fail("rank " + num(rank) + " exceeds " + num(max_rank));
  Dataspace s;
  if (version == 1) {
    c.skip(5);
  } else {
    const unsigned type = c.u8();
    if (type > 2) c.fail("unknown dataspace type " + num(type));
    s.null = type == 2;
  }
  for (unsigned i = 0; i < rank; ++i) s.dims.push_back(c.length());
  if (flags & 1)
    for (unsigned i = 0; i < rank; ++i) {
      const std::uint64_t m = c.length();
      s.max.push_back(m == (c.file().sl >= 8 ? undef : (std::uint64_t{1} << (8 * c.file().sl)) - 1) ? undef : m);
    }
  else s.max = s.dims;
  if (s.null) s.dims.clear(), s.max.clear();
  return s;
}

/// The number of elements (undef when the product overflows).
inline std::uint64_t elements(const Dataspace& s) {
  if (s.null) return 0;
  std::uint64_t n = 1;
  for (auto d : s.dims) n = mul(n, d);
  return n;
}

/// An attribute: its name and its message (in the object header, or an object of the dense attribute heap).
struct Attribute {
  std::string name;
  std::uint64_t pos, size;
};

/// The parts of an attribute message (versions 1 to 3).
struct AttributeParts {
  std::string name;
  Cursor type, space, data;
};

inline AttributeParts attribute_parts(Cursor c) {
  const unsigned version = c.u8();
  if (version < 1 || version > 3) c.fail("unknown attribute message version " + num(version));
  const unsigned flags = c.u8();
  if (version > 1 && (flags & 3)) c.fail("shared attribute datatypes and dataspaces are not supported");
  const std::uint64_t nn = c.u16(), tn = c.u16(), sn = c.u16();
  if (version == 3) c.skip(1);  // name character set
  auto part = [&](std::uint64_t n) {
    Cursor p = c.take(n);
    if (version == 1) c.skip(pad8(n) - n);
    return p;
  };
  Cursor name = part(nn);
  std::string s(name.bytes(nn));
  s.resize(std::min(s.size(), s.find('\0')));
  Cursor type = part(tn), space = part(sn);
  return {std::move(s), type, space, c};
}

/// The attributes of an object: messages in its header and, when it has gone dense, records of the name index
/// of its attribute heap.
inline std::vector<Attribute> attributes(File& f, const std::vector<Message>& msgs, const std::string& ctx) {
  std::vector<Attribute> out;
  auto add = [&](const Cursor& c) {
    if (out.size() >= max_list) f.fail(ctx, "more than " + num(max_list) + " attributes; refusing");
    f.step(1, ctx);
    out.push_back({attribute_parts(c).name, c.pos(), c.left()});
  };
  for (const auto& m : msgs)
    if (m.type == kAttribute) add(message_cursor(f, m, ctx, "attribute"));
  if (const Message* ai = find_message(msgs, kAttributeInfo)) {
    Cursor c = message_cursor(f, *ai, ctx, "attribute info");
    c.version(0);
    const unsigned flags = c.u8();
    if (flags & 1) c.skip(2);
    const std::uint64_t heap = c.addr(), names = c.addr();
    if (heap != undef) {
      FractalHeap fh(f, heap, ctx + ": dense attributes");
      walk_btree2(f, names, 8, ctx + ": attribute name index", [&](Cursor r) {
        Cursor id = r.take(8);
        if (r.u8() & 0x02) r.fail("shared attributes are not supported");
        add(fh.object(id));
      });
    }
  }
  return out;
}

/// The strings of a string attribute (fixed length, any padding, or variable length; scalar or any shape): trailing
/// NULs and spaces dropped, each cut at its first NUL. An attribute without elements, of any type, gives none.
inline std::vector<std::string> string_attribute(File& f, const Attribute& a, GlobalHeaps& heaps, const std::string& ctx) {
  const std::string actx = ctx + "attribute '" + a.name + "'";
  AttributeParts p = attribute_parts(Cursor(f, a.pos, a.pos + a.size, actx));
  const std::uint64_t n = elements(dataspace(p.space));
  if (n == 0) return {};
  const Datatype t = datatype(p.type);
  const bool fixed = t.cls == 3, vlen = t.cls == 9 && t.vlen_string;
  if (!fixed && !vlen) f.fail("", actx + " does not hold strings");
  if (n > max_list || (fixed && t.size > max_list))
    f.fail(actx, "claims " + (n == undef ? std::string("too many") : num(n)) + " strings of up to " + num(t.size) +
                     " bytes; refusing to allocate");
  std::vector<std::string> out;
  std::uint64_t total = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    std::string s;
    if (fixed) {
      s = p.data.bytes(t.size);
    } else {
      const std::uint64_t len = p.data.u32(), col = p.data.addr();
      const std::uint32_t index = p.data.u32();
      if (len != 0) {  // an empty string may have no heap object
        Cursor o = heaps.object(f, col, index, actx + ": string " + num(i));
        if (len > o.left()) o.fail("string of " + num(len) + " bytes in a heap object of " + num(o.left()));
        if (len > max_list) o.fail("string of " + num(len) + " bytes; refusing");
        s = o.bytes(len);
      }
    }
    s.erase(s.find_last_not_of(std::string("\0 ", 2)) + 1);
    s.resize(std::min(s.size(), s.find('\0')));
    total += s.size();
    if (total > f.size()) f.fail(actx, "its strings add up to more bytes than the file holds; refusing");
    f.step(1 + s.size() / 16, actx);
    out.push_back(std::move(s));
  }
  return out;
}

// ---- datasets -------------------------------------------------------------------------------------------------

/// An I/O filter of a dataset's pipeline: deflate (1), shuffle (2) or fletcher32 (3); other filters are refused.
struct Filter {
  unsigned id;
  std::vector<std::uint32_t> params;
};

inline std::vector<Filter> filter_pipeline(Cursor c) {
  const unsigned version = c.u8(), n = c.u8();
  if (version != 1 && version != 2) c.fail("unknown filter pipeline version " + num(version));
  if (n > 32) c.fail(num(n) + " filters: at most 32 are possible");
  if (version == 1) c.skip(6);
  std::vector<Filter> out;
  for (unsigned i = 0; i < n; ++i) {
    Filter flt{c.u16(), {}};
    const std::uint64_t name_len = (version == 1 || flt.id >= 256) ? c.u16() : 0;
    c.skip(2);  // flags
    const unsigned values = c.u16();
    std::string name(c.bytes(name_len));
    name.resize(std::min(name.size(), name.find('\0')));
    for (unsigned v = 0; v < values; ++v) flt.params.push_back(c.u32());
    if (version == 1 && values % 2) c.skip(4);
    if (flt.id < 1 || flt.id > 3) {
      const char* known = flt.id == 4 ? "szip" : flt.id == 5 ? "nbit" : flt.id == 6 ? "scaleoffset" : flt.id == 32000 ? "lzf" : "";
      if (name.empty()) name = known;
      c.fail("filter " + num(flt.id) + (name.empty() ? "" : " ('" + name + "')") +
             " is not supported (deflate, shuffle and fletcher32 are); rewrite the file with gzip compression");
    }
    out.push_back(std::move(flt));
  }
  return out;
}

/// A data layout message (versions 3 and 4): compact, contiguous or chunked storage.
struct Layout {
  unsigned version = 0, cls = 0, index = 0, flags = 0;
  std::uint64_t addr = undef, size = 0, data = 0;  // data: position of compact values
  std::vector<std::uint64_t> chunk;                // chunk dimensions, then the element size
  std::uint64_t single_size = 0;                   // single filtered chunk: its stored size and filter mask
  std::uint32_t single_mask = 0;
};

inline Layout layout(Cursor c) {
  Layout l;
  l.version = c.u8();
  if (l.version != 3 && l.version != 4) c.fail("data layout message version " + num(l.version) + " is not supported (3 and 4 are)");
  l.cls = c.u8();
  if (l.cls == 0) {
    l.size = c.u16();
    l.data = c.pos();
    c.skip(l.size);
  } else if (l.cls == 1) {
    l.addr = c.addr();
    l.size = c.length();
  } else if (l.cls == 2) {
    if (l.version == 3) {
      const unsigned nd = c.u8();
      if (nd < 2 || nd > max_rank + 1) c.fail("chunks of " + num(nd) + " dimensions");
      l.addr = c.addr();
      for (unsigned i = 0; i < nd; ++i) l.chunk.push_back(c.u32());
    } else {
      l.flags = c.u8();
      const unsigned nd = c.u8(), width = c.u8();
      if (nd < 2 || nd > max_rank + 1) c.fail("chunks of " + num(nd) + " dimensions");
      if (width < 1 || width > 8) c.fail("chunk dimensions of " + num(width) + " bytes");
      for (unsigned i = 0; i < nd; ++i) l.chunk.push_back(c.uint(width));
      l.index = c.u8();
      switch (l.index) {
        case 1:
          if (l.flags & 2) l.single_size = c.length(), l.single_mask = c.u32();
          break;
        case 2: break;
        case 3: c.skip(1); break;
        case 4: c.skip(5); break;
        case 5: c.skip(6); break;
        default: c.fail("unknown chunk index type " + num(l.index));
      }
      l.addr = c.addr();
    }
  } else if (l.cls == 3) {
    c.fail("virtual datasets are not supported");
  } else {
    c.fail("unknown storage class " + num(l.cls));
  }
  return l;
}

/// n values of float type t at src, converted to float.
inline void to_float(const char* src, std::size_t n, const Datatype& t, float* dst) {
  if (t.size == 4 && !t.big_endian && std::endian::native == std::endian::little) {
    if (n) std::memcpy(dst, src, n * 4);
    return;
  }
  const std::size_t w = static_cast<std::size_t>(t.size);
  for (std::size_t i = 0; i < n; ++i, src += w) {
    std::uint64_t v = 0;
    for (std::size_t b = 0; b < w; ++b)
      v |= std::uint64_t(static_cast<unsigned char>(src[t.big_endian ? w - 1 - b : b])) << (8 * b);
    dst[i] = w == 8 ? static_cast<float>(std::bit_cast<double>(v))
             : w == 4 ? std::bit_cast<float>(static_cast<std::uint32_t>(v))
                      : half_to_float(static_cast<std::uint16_t>(v));
  }
}

/// Inflates a zlib stream to exactly `want` bytes.
inline std::string inflate_exact(std::string_view in, std::uint64_t want, const Cursor& ctx) {
  std::string out;
  const std::string why = siamese::detail::inflate_exact(in, static_cast<std::size_t>(want), MAX_WBITS, out);
  if (!why.empty()) ctx.fail("corrupt deflate data (" + why + ")");
  return out;
}

/// HDF5's Fletcher-32 checksum (H5_checksum_fletcher32).
inline std::uint32_t fletcher32(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t len = s.size() / 2;
  std::uint32_t a = 0, b = 0;
  while (len) {
    std::size_t t = std::min<std::size_t>(len, 360);
    len -= t;
    do {
      a += std::uint32_t(p[0]) << 8 | p[1];
      p += 2;
      b += a;
    } while (--t);
    a = (a & 0xffff) + (a >> 16);
    b = (b & 0xffff) + (b >> 16);
  }
  if (s.size() % 2) {
    a += std::uint32_t(*p) << 8;
    b += a;
    a = (a & 0xffff) + (a >> 16);
    b = (b & 0xffff) + (b >> 16);
  }
  a = (a & 0xffff) + (a >> 16);
  b = (b & 0xffff) + (b >> 16);
  return b << 16 | a;
}

/// Undoes a dataset's filters on one stored chunk (filters whose bit is set in `mask` were skipped when it was
/// written); the result must be exactly `want` bytes.
inline std::string_view unfilter(Cursor raw, const std::vector<Filter>& pipe, std::uint32_t mask, std::uint64_t want,
                                 std::uint64_t elem, std::string& buf) {
  // The size entering each filter when the chunk was written (undef after deflate: it varies).
  std::vector<std::uint64_t> sizes{want};
  for (std::size_t i = 0; i < pipe.size(); ++i) {
    const bool on = !(mask >> i & 1);
    const std::uint64_t s = sizes.back();
    sizes.push_back(!on || pipe[i].id == 2 ? s : pipe[i].id == 3 && s != undef ? s + 4 : undef);
  }
  std::string_view cur = raw.bytes(raw.left());
  for (std::size_t i = pipe.size(); i-- > 0;) {
    if (mask >> i & 1) continue;
    const std::uint64_t out = sizes[i];
    if (pipe[i].id == 1) {
      if (out == undef) raw.fail("cannot tell what a deflate filter after another deflate inflates to");
      std::string next = inflate_exact(cur, out, raw);
      buf.swap(next);
    } else if (pipe[i].id == 2) {
      const std::uint64_t w = pipe[i].params.empty() || pipe[i].params[0] == 0 ? elem : pipe[i].params[0];
      const std::size_t n = cur.size() / w;
      std::string next(cur);
      if (n > 0)  // trailing bytes that make no whole element stay where they are
        for (std::size_t b = 0; b < w; ++b)
          for (std::size_t j = 0; j < n; ++j) next[j * w + b] = cur[b * n + j];
      buf.swap(next);
    } else {
      if (cur.size() < 4) raw.fail("chunk too short for its fletcher32 checksum");
      const std::string_view body = cur.substr(0, cur.size() - 4);
      std::uint32_t stored = 0;
      for (int b = 0; b < 4; ++b) stored |= std::uint32_t(static_cast<unsigned char>(cur[body.size() + b])) << (8 * b);
      const std::uint32_t sum = fletcher32(body), swapped = (sum & 0xFF00FF00u) >> 8 | (sum & 0x00FF00FFu) << 8;
      if (stored != sum && stored != swapped) raw.fail("fletcher32 checksum mismatch: the chunk is corrupt");
      std::string next(body);
      buf.swap(next);
    }
    cur = buf;
  }
  if (cur.size() != want) raw.fail("chunk holds " + num(cur.size()) + " bytes after its filters, " + num(want) + " expected");
  return cur;
}

/// What reading a chunked dataset needs whichever index lists its chunks: the dataset's type, shape, layout
/// and filters, the grid of chunks, and the values they fill. place() copies one chunk in; unravel() turns a
/// chunk's number into its grid position, over the grid of the maximum dimensions.
struct ChunkReader {
  File& f;
  const std::string& ctx;
  const Datatype& t;
  const Dataspace& s;
  const Layout& l;
  const std::vector<Filter>& pipe;
  std::vector<float>& values;
  std::size_t rank;
  std::uint64_t chunk_bytes = 0, grid_total = 1;
  std::vector<std::uint64_t> grid, max_grid, out_stride, chunk_stride, ext, idx, scaled;
  std::vector<bool> seen;
  std::string buf;
  std::string ictx = ctx + ": chunk index";

  ChunkReader(File& file, const std::string& c, const Datatype& type, const Dataspace& space, const Layout& lay,
              const std::vector<Filter>& filters, std::vector<float>& out)
      : f(file), ctx(c), t(type), s(space), l(lay), pipe(filters), values(out), rank(space.dims.size()) {
    if (rank == 0 || l.chunk.size() != rank + 1) f.fail(ctx, "its chunks have another rank than its shape");
    if (l.chunk[rank] != t.size) f.fail(ctx, "its chunks hold elements of " + num(l.chunk[rank]) + " bytes, its type " + num(t.size));
    std::uint64_t chunk_elems = 1;
    grid.resize(rank);
    max_grid.resize(rank);
    for (std::size_t d = 0; d < rank; ++d) {
      if (l.chunk[d] == 0) f.fail(ctx, "a chunk dimension is 0");
      chunk_elems = mul(chunk_elems, l.chunk[d]);
      grid[d] = s.dims[d] / l.chunk[d] + (s.dims[d] % l.chunk[d] != 0);
      max_grid[d] = s.max[d] == undef ? undef : s.max[d] / l.chunk[d] + (s.max[d] % l.chunk[d] != 0);
      grid_total *= grid[d];  // at most the element count
    }
    chunk_bytes = mul(chunk_elems, t.size);
    if (chunk_bytes == undef || chunk_bytes > 1100 * f.size() + (std::uint64_t{1} << 20))
      f.fail(ctx, "claims chunks of " + (chunk_bytes == undef ? std::string("overflowing") : num(chunk_bytes)) +
                      " bytes, more than the file can hold; refusing to allocate");
  }

  /// Sets up what place() needs once there are values to read.
  void start() {
    seen.assign(static_cast<std::size_t>(grid_total), false);
    out_stride.assign(rank, 1);
    chunk_stride.assign(rank, 1);
    for (std::size_t d = rank - 1; d-- > 0;) {
      out_stride[d] = out_stride[d + 1] * s.dims[d + 1];
      chunk_stride[d] = chunk_stride[d + 1] * l.chunk[d + 1];
    }
    ext.assign(rank, 0);
    idx.assign(rank, 0);
    scaled.assign(rank, 0);
  }

  /// Copies the chunk at grid position `at` (stored at addr, `stored` bytes, filters skipped per `mask`) into
  /// the values.
  void place(const std::uint64_t* at, std::uint64_t addr, std::uint64_t stored, std::uint32_t mask) {
    std::uint64_t lin = 0;
    for (std::size_t d = 0; d < rank; ++d) {
      if (at[d] >= grid[d]) return;  // beyond the current extent: holds no values
      lin = lin * grid[d] + at[d];
    }
    const std::string cctx = ctx + ": chunk at byte " + (addr == undef ? std::string("(undefined)") : num(addr));
    if (seen[lin]) f.fail(cctx, "a second chunk for the same position");
    seen[lin] = true;
    if (addr == undef) return;
    f.inflate(chunk_bytes, cctx);
    const std::uint64_t all = (std::uint64_t{1} << pipe.size()) - 1;
    const bool filtered = !pipe.empty() && (mask & all) != all;
    if (!filtered && stored < chunk_bytes) f.fail(cctx, "stored size " + num(stored) + " is less than the chunk's " + num(chunk_bytes) + " bytes");
    Cursor raw = f.at(addr, filtered ? stored : chunk_bytes, cctx);
    const std::string_view v = filtered ? unfilter(raw, pipe, mask, chunk_bytes, t.size, buf) : raw.bytes(chunk_bytes);
    std::uint64_t runs = 1;
    for (std::size_t d = 0; d < rank; ++d) {
      ext[d] = std::min(l.chunk[d], s.dims[d] - at[d] * l.chunk[d]);
      idx[d] = 0;
      if (d + 1 < rank) runs *= ext[d];
    }
    for (std::uint64_t r = 0; r < runs; ++r) {
      std::uint64_t src = 0, dst = 0;
      for (std::size_t d = 0; d < rank; ++d) {
        src += idx[d] * chunk_stride[d];
        dst += (at[d] * l.chunk[d] + idx[d]) * out_stride[d];
      }
      to_float(v.data() + src * t.size, static_cast<std::size_t>(ext[rank - 1]), t, values.data() + dst);
      for (std::size_t d = rank - 1; d-- > 0;) {  // next run: odometer over all but the last dimension
        if (++idx[d] < ext[d]) break;
        idx[d] = 0;
      }
    }
  }
  void place_scaled(std::uint64_t addr, std::uint64_t stored, std::uint32_t mask) { place(scaled.data(), addr, stored, mask); }

  /// Chunk number i -> `scaled`, over the grid of the maximum dimensions (fixed arrays, implicit index); false
  /// when i lies beyond that grid.
  bool unravel(std::uint64_t i) {
    for (std::size_t d = rank; d-- > 0;) {
      if (max_grid[d] == undef || max_grid[d] == 0) f.fail(ctx, "unlimited or empty maximum dimensions with a fixed chunk index");
      scaled[d] = i % max_grid[d];
      i /= max_grid[d];
    }
    return i == 0;
  }
};

/// Chunks listed by a v1 B-tree, whose keys hold each chunk's stored size, filter mask and element offsets.
inline void read_chunks_btree1(ChunkReader& c) {
  walk_btree1(c.f, c.l.addr, 1, 8 + 8 * (c.rank + 1), c.ictx, [&](Cursor key, std::uint64_t child) {
    const std::uint64_t stored = key.u32();
    const std::uint32_t mask = key.u32();
    for (std::size_t d = 0; d < c.rank; ++d) {
      const std::uint64_t off = key.u64();
      if (off % c.l.chunk[d]) key.fail("chunk offset " + num(off) + " is not a multiple of the chunk size " + num(c.l.chunk[d]));
      c.scaled[d] = off / c.l.chunk[d];
    }
    c.place_scaled(child, stored, mask);
  });
}

/// One chunk for the whole dataset, its stored size and mask in the layout when it is filtered.
inline void read_chunk_single(ChunkReader& c) {
  std::fill(c.scaled.begin(), c.scaled.end(), 0);
  const bool filtered = c.l.flags & 2;
  c.place_scaled(c.l.addr, filtered ? c.l.single_size : c.chunk_bytes, filtered ? c.l.single_mask : 0);
}

/// An implicit index: every chunk of the maximum grid in turn from the layout's address, unfiltered.
inline void read_chunks_implicit(ChunkReader& c) {
  File& f = c.f;
  if (!c.pipe.empty()) f.fail(c.ictx, "an implicit chunk index with filters");
  std::uint64_t total = 1;
  for (auto g : c.max_grid) total = mul(total, g);
  if (c.l.addr > f.size() || mul(total, c.chunk_bytes) > f.size() - c.l.addr)
    f.fail(c.ictx, num(total) + " chunks of " + num(c.chunk_bytes) + " bytes at byte " + num(c.l.addr) +
                       " do not fit in the file");
  for (std::uint64_t i = 0; i < total; ++i) {
    f.step(1, c.ictx);
    if (c.unravel(i)) c.place_scaled(c.l.addr + i * c.chunk_bytes, c.chunk_bytes, 0);
  }
}

/// A fixed array: a header, then a data block of one entry per chunk, in pages when there are many.
inline void read_chunks_fixed_array(ChunkReader& c) {
  File& f = c.f;
  const std::string hctx = c.ictx + ": fixed array at byte " + num(c.l.addr);
  Cursor h = f.from(c.l.addr, hctx);
  h.signature("FAHD");
  h.version(0);
  const unsigned client = h.u8(), esize = h.u8(), page_bits = h.u8();
  const std::uint64_t n = h.length(), dblock = h.addr();
  const bool filtered = client == 1;
  if (client > 1 || filtered != !c.pipe.empty() || (filtered ? esize < f.so + 5 || esize > f.so + 12 : esize != f.so) ||
      page_bits > 32)
    h.fail("implausible fixed array (kind " + num(client) + ", entries of " + num(esize) + " bytes, " + num(page_bits) +
           " page bits)");
  if (dblock == undef) return;
  auto entry = [&](std::uint64_t i, Cursor e) {
    const std::uint64_t addr = e.addr(), stored = filtered ? e.uint(esize - f.so - 4) : c.chunk_bytes;
    const std::uint32_t mask = filtered ? e.u32() : 0;
    f.step(1, hctx);
    if (c.unravel(i)) c.place_scaled(addr, stored, mask);
  };
  const std::string dctx = hctx + ": data block at byte " + num(dblock);
  Cursor d = f.from(dblock, dctx);
  d.signature("FADB");
  d.version(0);
  d.skip(1 + f.so);  // kind, header address
  const std::uint64_t page = std::uint64_t{1} << page_bits;
  if (n <= page) {
    for (std::uint64_t i = 0; i < n; ++i) entry(i, d.take(esize));
    return;
  }
  // Paged: a bitmap of initialised pages, then pages of entries, each with a checksum.
  const std::uint64_t pages = n / page + (n % page != 0);
  const std::string_view init = d.bytes((pages + 7) / 8);
  d.skip(4);
  const std::uint64_t page_bytes = mul(page, esize) + 4;
  for (std::uint64_t p = 0; p < pages; ++p) {
    f.step(1, dctx);
    if (!(static_cast<unsigned char>(init[p / 8]) & (0x80 >> (p % 8)))) continue;
    const std::uint64_t in_page = std::min(page, n - p * page);
    Cursor pg = f.at(mul(p, page_bytes) == undef ? undef : d.pos() + p * page_bytes, in_page * esize, dctx + ": page " + num(p));
    for (std::uint64_t j = 0; j < in_page; ++j) entry(p * page + j, pg.take(esize));
  }
}

/// A v2 B-tree whose records hold each chunk's address, [stored size, filter mask,] and grid position.
inline void read_chunks_btree2(ChunkReader& c) {
  const bool filtered = !c.pipe.empty();
  const std::size_t rank = c.rank;
  walk_btree2(c.f, c.l.addr, filtered ? 11 : 10, c.ictx, [&](Cursor r) {
    const std::uint64_t addr = r.addr();
    std::uint64_t stored = c.chunk_bytes;
    std::uint32_t mask = 0;
    if (filtered) {
      if (r.left() < 4 + 8 * rank + 1 || r.left() > 4 + 8 * rank + 8) r.fail("record of another dataset rank");
      stored = r.uint(static_cast<unsigned>(r.left() - 4 - 8 * rank));
      mask = r.u32();
    }
    for (std::size_t d = 0; d < rank; ++d) c.scaled[d] = r.u64();
    c.place_scaled(addr, stored, mask);
  });
}

/// An extensible array: one unlimited dimension, which comes first in the chunks' linear order; entries in an
/// index block, then in data blocks that it or its secondary blocks list.
inline void read_chunks_extensible_array(ChunkReader& c) {
  File& f = c.f;
  const std::size_t rank = c.rank;
  const std::string hctx = c.ictx + ": extensible array at byte " + num(c.l.addr);
  Cursor h = f.from(c.l.addr, hctx);
  h.signature("EAHD");
  h.version(0);
  const unsigned client = h.u8(), esize = h.u8(), max_bits = h.u8(), iblock_n = h.u8(), dblock_min = h.u8(),
                 sblock_min = h.u8(), page_bits = h.u8();
  for (int i = 0; i < 4; ++i) h.length();  // counts and sizes of secondary and data blocks
  const std::uint64_t max_set = h.length();
  h.length();  // elements
  const std::uint64_t iblock = h.addr();
  const bool filtered = client == 1;
  if (client > 1 || filtered != !c.pipe.empty() || (filtered ? esize < f.so + 5 || esize > f.so + 12 : esize != f.so) ||
      max_bits == 0 || max_bits > 64 || !std::has_single_bit(dblock_min) || log2_floor(dblock_min) > max_bits ||
      !std::has_single_bit(sblock_min) || page_bits > 32)
    h.fail("implausible extensible array parameters");
  std::size_t unlim = rank;
  for (std::size_t d = 0; d < rank; ++d)
    if (c.s.max[d] == undef) unlim = unlim == rank ? d : rank + 1;
  if (unlim >= rank) f.fail(c.ictx, "an extensible array index needs exactly one unlimited dimension");
  if (iblock == undef) return;
  auto entry = [&](std::uint64_t i, Cursor e) {
    const std::uint64_t addr = e.addr(), stored = filtered ? e.uint(esize - f.so - 4) : c.chunk_bytes;
    const std::uint32_t mask = filtered ? e.u32() : 0;
    f.step(1, hctx);
    for (std::size_t k = rank; k-- > 0;) {  // unravel over (unlimited dimension, the others in order)
      const std::size_t d = k == 0 ? unlim : k - 1 + (k - 1 >= unlim);
      if (k == 0) c.scaled[d] = i;
      else if (c.max_grid[d] == 0) return;
      else c.scaled[d] = i % c.max_grid[d], i /= c.max_grid[d];
    }
    c.place_scaled(addr, stored, mask);
  };
  const unsigned off_size = (max_bits + 7) / 8, sblocks = 1 + max_bits - log2_floor(dblock_min),
                 iblock_sblocks = 2 * log2_floor(sblock_min);
  const std::uint64_t page = std::uint64_t{1} << page_bits, iblock_dblocks = 2 * (std::uint64_t{sblock_min} - 1);
  const std::string ibctx = hctx + ": index block at byte " + num(iblock);
  Cursor ib = f.from(iblock, ibctx);
  ib.signature("EAIB");
  ib.version(0);
  ib.skip(1 + f.so);  // kind, header address
  for (std::uint64_t i = 0; i < iblock_n; ++i) entry(i, ib.take(esize));
  std::vector<std::uint64_t> dblocks, sblock_addrs;
  for (std::uint64_t i = 0; i < iblock_dblocks; ++i) dblocks.push_back(ib.addr());
  for (unsigned i = iblock_sblocks; i < sblocks; ++i) sblock_addrs.push_back(ib.addr());
  // The entries of the data block at addr: n of them from index `first` (pages: init says which exist).
  auto dblock = [&](std::uint64_t addr, std::uint64_t first, std::uint64_t n, std::string_view init) {
    f.step(1, hctx);
    if (addr == undef) return;
    const std::string dctx = hctx + ": data block at byte " + num(addr);
    Cursor d = f.from(addr, dctx);
    d.signature("EADB");
    d.version(0);
    d.skip(1 + f.so + off_size);  // kind, header address, block offset
    if (n <= page) {
      for (std::uint64_t k = 0; k < n && first + k < max_set; ++k) entry(first + k, d.take(esize));
      return;
    }
    d.skip(4);
    const std::uint64_t page_bytes = page * esize + 4;
    for (std::uint64_t p = 0; p < n / page && first + p * page < max_set; ++p) {
      f.step(1, dctx);
      if (!init.empty() && !(static_cast<unsigned char>(init[p / 8]) & (0x80 >> (p % 8)))) continue;
      Cursor pg = f.at(mul(p, page_bytes) == undef ? undef : d.pos() + p * page_bytes, page * esize, dctx + ": page " + num(p));
      for (std::uint64_t k = 0; k < page && first + p * page + k < max_set; ++k) entry(first + p * page + k, pg.take(esize));
    }
  };
  std::uint64_t start = iblock_n, next_dblock = 0;
  for (unsigned u = 0; u < sblocks && start < max_set; ++u) {  // super block u: 2^(u/2) data blocks of 2^((u+1)/2) * min
    const std::uint64_t n_dblocks = std::uint64_t{1} << (u / 2), n = mul(std::uint64_t{1} << ((u + 1) / 2), dblock_min);
    if (u < iblock_sblocks) {
      for (std::uint64_t j = 0; j < n_dblocks; ++j, ++next_dblock)
        if (next_dblock < dblocks.size()) dblock(dblocks[next_dblock], start + j * n, n, {});
    } else if (const std::uint64_t sa = sblock_addrs[u - iblock_sblocks]; sa != undef) {
      const std::string sctx = hctx + ": secondary block at byte " + num(sa);
      Cursor sb = f.from(sa, sctx);
      sb.signature("EASB");
      sb.version(0);
      sb.skip(1 + f.so + off_size);
      const std::uint64_t init_size = n > page ? (n / page + 7) / 8 : 0;
      const std::string_view init = sb.bytes(mul(n_dblocks, init_size));
      std::vector<std::uint64_t> addrs;
      for (std::uint64_t j = 0; j < n_dblocks; ++j) addrs.push_back(sb.addr());
      for (std::uint64_t j = 0; j < n_dblocks; ++j)
        dblock(addrs[j], start + j * n, n, init_size ? init.substr(j * init_size, init_size) : std::string_view{});
    }
    if (mul(n_dblocks, n) == undef || start + n_dblocks * n < start) break;
    start += n_dblocks * n;
  }
}

/// Reads a float dataset (the object whose header messages are msgs) into shape and values.
inline void read_float_dataset(File& f, const std::vector<Message>& msgs, const std::string& ctx,
                               std::vector<std::size_t>& shape, std::vector<float>& values) {
  const Message *tm = find_message(msgs, kDatatype), *sm = find_message(msgs, kDataspace),
                *lm = find_message(msgs, kLayout), *pm = find_message(msgs, kPipeline);
  if (!tm || !sm || !lm) f.fail("", ctx + " is not a dataset");
  const Datatype t = datatype(message_cursor(f, *tm, ctx, "datatype"));
  if (t.cls != 1) f.fail("", ctx + " does not hold floating-point values");
  const Dataspace s = dataspace(message_cursor(f, *sm, ctx, "dataspace"));
  if (s.null) f.fail("", ctx + " has a null dataspace: no values");
  const std::uint64_t count = elements(s), bytes = mul(count, t.size);
  f.produce(bytes, ctx);
  shape.assign(s.dims.begin(), s.dims.end());
  values.assign(static_cast<std::size_t>(count), 0.f);
  const Layout l = layout(message_cursor(f, *lm, ctx, "data layout"));
  if (l.cls == 0 || l.cls == 1) {  // compact or contiguous
    if (l.cls == 1 && l.addr == undef) return;  // never written: zeros
    if (l.size < bytes)
      f.fail(ctx, "its storage holds " + num(l.size) + " bytes, its shape needs " + num(bytes));
    if (count) to_float(f.at(l.cls ? l.addr : l.data, bytes, ctx + ": values").bytes(bytes).data(), count, t, values.data());
    return;
  }
  const std::vector<Filter> pipe = pm ? filter_pipeline(message_cursor(f, *pm, ctx, "filter pipeline")) : std::vector<Filter>{};
  ChunkReader chunks(f, ctx, t, s, l, pipe, values);
  if (count == 0 || l.addr == undef) return;  // no values, or none written: zeros
  chunks.start();
  switch (l.version == 3 ? 0 : l.index) {  // layout version 3 knows only the v1 B-tree
    case 0: read_chunks_btree1(chunks); break;
    case 1: read_chunk_single(chunks); break;
    case 2: read_chunks_implicit(chunks); break;
    case 3: read_chunks_fixed_array(chunks); break;
    case 5: read_chunks_btree2(chunks); break;
    default: read_chunks_extensible_array(chunks); break;  // 4; layout() refuses any other
  }
}

}  // namespace siamese::detail::h5
