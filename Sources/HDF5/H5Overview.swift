// The HDF5 module in one page: what it offers, the rules it enforces, and what it guarantees.
//
// Types
//   H5File           create (.failIfExists / .truncate), open (.readOnly / .readWrite), flush(durable:),
//                    close(). It is also the root group.
//   H5Container      what files and groups share: createGroup / openGroup / requireGroup, contains,
//                    kind(of:), children(), remove, createDataset / openDataset / datasetInfo, attributes.
//   H5Group          a group (a path; holds no HDF5 identifier).
//   H5Dataset<E>     a dataset of Float, Double, Int32, Int64, UInt8 or UInt16 (`H5Element`), its type
//                    checked on open: write, write(atRow:), append, read, read(rows:), read(rows:into:),
//                    resize(rows:), shape, rowCount.
//   H5Attributes     string (variable-length UTF-8), Int64, Double, [Int64], [Double]; typed reads.
//   H5ResumableWriter  lockstep appends to the datasets of one group with commits that survive kill -9.
//   H5Error          every failure: kind, operation, file path, object, message, HDF5 error stack.
//   H5Library        version, build facts, and the process-wide lock.
//
// Threads: every call into the C library runs under one process-wide lock (H5Library.serialized), so
// files, groups and datasets may be used from several threads (e.g. a background batch reader); calls
// take turns. HDF5's own error printing is switched off; errors are thrown, never printed.
//
// Incremental writing that resumes (teacher targets):
//
//     let file = FileManager.default.fileExists(atPath: path)
//       ? try H5File.open(path, mode: .readWrite) : try H5File.create(path)
//     let writer = try H5ResumableWriter(file: file, group: "targets")   // reads committed_rows
//     let tokens = try writer.dataset("tokens", of: Int32.self, rowShape: [length])  // tail dropped
//     let probs = try writer.dataset("probs", of: Float.self, rowShape: [length, k],
//                                    chunkRows: batch, compression: .deflate(level: 4))
//     var next = writer.committedRows                   // resume from here
//     while next < total {
//       let n = min(batch, total - next)
//       try tokens.append(tokenBatch(next, n))
//       try probs.append(probBatch(next, n))
//       try writer.commit(final: next + n == total)      // flush rows, raise committed_rows, flush
//       next += n
//     }
//
// Crash safety, as measured (CrashResumeTests, 200 random kill -9 rounds incl. kills during resume):
// - The file format is HDF5's default (superblock v0). A killed writer always left a file that opens
//   and whose committed rows were intact. The "latest" format (superblock v3, needed for SWMR) was
//   tried and rejected: a killed writer leaves its "open for write" flag set, and the file cannot be
//   opened at all (not even read-only) until `h5clear -s` is run on it.
// - Rewriting a compressed chunk that holds committed rows is NOT safe: HDF5 re-allocates a filtered
//   chunk on every rewrite and can reuse the old space before the next flush, so a kill leaves that
//   chunk undecodable ("inflate() failed"; seen within seconds). Hence the writer's rule: commits of
//   compressed datasets end on chunk boundaries (only a final commit may not). Uncompressed chunks
//   are rewritten in place with the same committed bytes and need no such rule.
// - Guaranteed: a commit() that returned survives kill -9; rows after it are dropped on resume.
//   Not guaranteed without `durable: true`: survival of a power loss or OS crash (the data may still
//   be in the OS page cache). Not covered: a kill in the middle of HDF5's own flush could in
//   principle leave a half-written metadata update (not observed); callers who need more can write
//   shards or `name.h5.partial` and rename when complete.
