/// Every C call of the Capture module, wrapped in small Swift types (STYLE.md: "every C
/// call in one file"): libpcap's dead handle, dumper, BPF compiler and offline reader, and
/// the few libc calls around them (stdio buffers, directories, fnmatch, atomic rename).
/// Nothing outside this file imports CPcap or the C library.
import CPcap
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - libpcap constants

enum LibPcap {
    /// LINKTYPE_ETHERNET / DLT_EN10MB: every simulated device is Ethernet-framed.
    static let linkTypeEthernet: Int32 = 1
    /// The largest snapshot length libpcap's savefile reader accepts for EN10MB
    /// (`MAXIMUM_SNAPLEN`), and tcpdump's default.
    static let maximumSnaplen = 262_144
    /// The classic pcap magic for nanosecond timestamps, as the writer's byte order stores it.
    static let nanosecondMagic: UInt32 = 0xa1b2_3c4d
    /// A savefile record's header: seconds, sub-second, caplen, len (`pcap_sf_pkthdr`).
    static let recordHeaderLength = 16
    /// pcap_dump writes through stdio, so each file gets a large buffer of our own
    /// (`setvbuf`; with the background writer, a pool chunk). Measured here with 1400-byte
    /// frames over 8 files: glibc's default (st_blksize, 4 KiB) costs ~1000 ns of kernel
    /// time per hop, 64–256 KiB ~500–650 ns; with the background writer 128 KiB–1 MiB were
    /// within this VM's noise of each other. So 256 KiB per file, at most 64 MiB over all
    /// files, and at least 64 KiB each.
    static func dumpBufferSize(fileCount: Int) -> Int {
        max(64 << 10, min(256 << 10, (64 << 20) / max(fileCount, 1)))
    }

    static var versionString: String { String(cString: pcap_lib_version()) }
}

// MARK: - Dead handle (the context every writer and compiler needs)

/// `pcap_open_dead_with_tstamp_precision(DLT_EN10MB, snaplen, NANO)`: no device, just the
/// link type, snapshot length and timestamp precision a savefile header and BPF need.
final class PcapDeadHandle {
    let raw: OpaquePointer

    init?(snaplen: Int, nanosecond: Bool = true) {
        let precision = UInt32(nanosecond ? PCAP_TSTAMP_PRECISION_NANO : PCAP_TSTAMP_PRECISION_MICRO)
        guard let p = pcap_open_dead_with_tstamp_precision(LibPcap.linkTypeEthernet, Int32(snaplen), precision)
        else { return nil }
        raw = p
    }

    deinit { pcap_close(raw) }

    var snaplen: Int { Int(pcap_snapshot(raw)) }
    var lastError: String { String(cString: pcap_geterr(raw)) }
}

// MARK: - Writer

/// A non-owning reference to an open `pcap_dumper_t`, small enough for a per-device table
/// on the per-hop path. Valid while the `PcapDumpFile` that made it is open.
struct PcapDumperRef {
    let raw: OpaquePointer
    /// The dumper's stdio stream (`pcap_dump_file`).
    let stream: UnsafeMutablePointer<FILE>
    /// A background file's sink, which hands the stream's full buffer to the writer before
    /// a record would overflow it; nil when stdio writes the file itself.
    let sink: Unmanaged<BackgroundSink>?
    /// The stream's buffer size (background files only).
    let bufferSize: Int

    /// `pcap_dump` one record. With a NANO handle libpcap stores `ts.tv_usec` as the
    /// nanosecond field as is, so `nanoseconds` goes there unscaled.
    @inline(__always)
    func dump(seconds: Int64, nanoseconds: Int64, capturedLength: Int, originalLength: Int,
              bytes: UnsafeRawPointer) {
        if let sink {
            let pending = podwire_stdio_pending(stream)
            if pending > 0 && pending &+ LibPcap.recordHeaderLength &+ capturedLength > bufferSize {
                BackgroundSink.handOff(sink, stream)
            }
        }
        var header = pcap_pkthdr()
        header.ts.tv_sec = .init(truncatingIfNeeded: seconds)
        header.ts.tv_usec = .init(truncatingIfNeeded: nanoseconds)
        header.caplen = UInt32(truncatingIfNeeded: capturedLength)
        header.len = UInt32(truncatingIfNeeded: originalLength)
        pcap_dump(UnsafeMutablePointer<UInt8>(raw), &header, bytes.assumingMemoryBound(to: UInt8.self))
    }
}

/// Writes file data beside the simulation, so that the kernel's part of capturing — copying
/// every byte into the page cache, most of the capture cost (perf) — mostly runs on the
/// other core instead of inside the simulation.
///
/// The memory is one pool of equal chunks. Each file's stdio stream uses a chunk as its
/// buffer (`BackgroundSink`): libpcap's records are formatted straight into it, and before
/// a record would overflow it the full chunk is queued as it is — not copied — and the
/// stream gets a free chunk. Two threads `write(2)` queued chunks: the writer thread, and
/// the simulation's own thread whenever the pool has run dry — instead of waiting for a
/// chunk it writes the oldest one it may, so when the kernel is the bottleneck both cores
/// work on it.
///
/// Order: a thread only takes the oldest queued chunk of a file, and only while no other
/// chunk of that file is being written, so each file receives its bytes strictly in order
/// and the output is byte-identical to a plain sequential writer. The pool bounds memory
/// (back-pressure): one chunk per file plus `poolBytes` in flight. The first write error of
/// each file is kept and reported by `drain`.
final class BackgroundWriter: @unchecked Sendable {
    /// Bytes of chunks that can be queued or being written at once, beyond the one each
    /// file's stream holds. Small enough that a chunk is usually still in the 32 MiB L3
    /// cache when the kernel copies it out (32 MiB measured ~10% more CPU than 2–8 MiB).
    static let poolBytes = 8 << 20

    let chunkSize: Int
    let chunkCount: Int

    private struct Job {
        var fd: Int32
        var chunk: Int32
        var length: Int32
        var sink: Int32
    }

    private let memory: UnsafeMutableRawPointer
    private let lock: UnsafeMutablePointer<pthread_mutex_t>
    private let changed: UnsafeMutablePointer<pthread_cond_t>
    // Everything below is guarded by `lock`.
    private var freeChunks: [Int32]
    /// Queued chunks, oldest first.
    private var queue: [Job] = []
    /// Per sink: chunks queued or being written; whether one is being written; the first
    /// write error (errno).
    private var pending: [Int] = []
    private var writing: [Bool] = []
    private var errors: [Int32] = []
    private var stopping = false
    private var thread = pthread_t()
    private var started = false

    /// `files` streams can each hold a chunk while `inFlight` more (default: `poolBytes`,
    /// at least 8 chunks) are queued or being written.
    init(chunkSize: Int, files: Int, inFlight: Int? = nil) {
        self.chunkSize = chunkSize
        chunkCount = files + max(1, inFlight ?? max(8, Self.poolBytes / chunkSize))
        memory = .allocate(byteCount: chunkSize * chunkCount, alignment: 4096)
        lock = .allocate(capacity: 1)
        changed = .allocate(capacity: 1)
        pthread_mutex_init(lock, nil)
        pthread_cond_init(changed, nil)
        freeChunks = (0..<Int32(chunkCount)).reversed()
        queue.reserveCapacity(chunkCount)
        started = pthread_create(&thread, nil, { arg in
            Unmanaged<BackgroundWriter>.fromOpaque(arg!).takeUnretainedValue().loop()
            return nil
        }, Unmanaged.passUnretained(self).toOpaque()) == 0
    }

    /// Stops the thread once the queue is empty. Call before releasing the writer.
    func shutdown() {
        guard started else { return }
        pthread_mutex_lock(lock)
        stopping = true
        pthread_cond_broadcast(changed)
        pthread_mutex_unlock(lock)
        pthread_join(thread, nil)
        started = false
    }

    deinit {
        shutdown()
        pthread_cond_destroy(changed)
        pthread_mutex_destroy(lock)
        changed.deallocate()
        lock.deallocate()
        memory.deallocate()
    }

    func register() -> Int32 {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        pending.append(0)
        writing.append(false)
        errors.append(0)
        return Int32(errors.count - 1)
    }

    @inline(__always) func chunk(_ i: Int32) -> UnsafeMutableRawPointer {
        memory + Int(i) * chunkSize
    }

    /// A free chunk. When none is free, writes the oldest queued chunk it may on this
    /// thread (and reuses it); waits only if every queued chunk belongs to a file that is
    /// being written.
    func acquire() -> Int32 {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        while true {
            if let c = freeChunks.popLast() { return c }
            if let job = takeEligible() {
                perform(job)
            } else {
                pthread_cond_wait(changed, lock)
            }
        }
    }

    /// Gives a chunk back unwritten.
    func release(_ c: Int32) {
        pthread_mutex_lock(lock)
        freeChunks.append(c)
        pthread_cond_broadcast(changed)
        pthread_mutex_unlock(lock)
    }

    /// Queues `length` bytes of `chunk` for the sink's descriptor, after its earlier chunks.
    func submit(fd: Int32, chunk: Int32, length: Int, sink: Int32) {
        pthread_mutex_lock(lock)
        queue.append(Job(fd: fd, chunk: chunk, length: Int32(length), sink: sink))
        pending[Int(sink)] += 1
        pthread_cond_broadcast(changed)
        pthread_mutex_unlock(lock)
    }

    /// Waits until everything queued so far for the sink is written, writing queued chunks
    /// (of any file) on this thread meanwhile; returns the sink's first error (errno).
    func drain(sink: Int32) -> Int32 {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        while pending[Int(sink)] > 0 {
            if let job = takeEligible() {
                perform(job)
            } else {
                pthread_cond_wait(changed, lock)
            }
        }
        return errors[Int(sink)]
    }

    /// With the lock held: removes and returns the oldest queued job whose sink has no job
    /// being written (so it is also that sink's oldest), marking the sink as being written.
    private func takeEligible() -> Job? {
        var i = 0
        while i < queue.count {
            let sink = Int(queue[i].sink)
            if !writing[sink] {
                writing[sink] = true
                return queue.remove(at: i)
            }
            i += 1
        }
        return nil
    }

    /// Called with the lock held; writes with it released, then frees the chunk and records
    /// the outcome. After a failed write, later chunks of the same sink are dropped (its
    /// first error is what `drain` reports).
    private func perform(_ job: Job) {
        let sink = Int(job.sink)
        let failedBefore = errors[sink] != 0
        pthread_mutex_unlock(lock)
        var code: Int32 = 0
        if !failedBefore {
            var p = UnsafeRawPointer(chunk(job.chunk)), left = Int(job.length)
            while left > 0 {
                let n = write(job.fd, p, left)
                if n < 0 {
                    if errno == EINTR { continue }
                    code = errno
                    break
                }
                p += n
                left -= n
            }
        }
        pthread_mutex_lock(lock)
        if code != 0 && errors[sink] == 0 { errors[sink] = code }
        writing[sink] = false
        pending[sink] -= 1
        freeChunks.append(job.chunk)
        pthread_cond_broadcast(changed)
    }

    private func loop() {
        pthread_mutex_lock(lock)
        while true {
            if let job = takeEligible() {
                perform(job)
            } else if stopping && queue.isEmpty {
                break
            } else {
                pthread_cond_wait(changed, lock)
            }
        }
        pthread_mutex_unlock(lock)
    }
}

/// One file's end of its `fopencookie` stream, used by one thread at a time. The stream's
/// buffer is a pool chunk (`installed`); `handOff` queues it without copying and installs
/// a fresh one. Anything else stdio flushes (the file header, a record larger than the
/// buffer) is copied into chunks and queued, in order.
final class BackgroundSink {
    let writer: BackgroundWriter
    let fd: Int32
    let id: Int32
    /// The chunk the stream uses as its buffer, or -1 between a hand-off and the next
    /// `install`.
    private var installed: Int32 = -1
    /// Set while `handOff` flushes the stream: the cookie then queues `installed` itself.
    private var handingOff = false
    /// Bytes the stream has flushed: its file offset, for the cookie's seek function.
    private(set) var position: Int64 = 0

    init(writer: BackgroundWriter, fd: Int32) {
        self.writer = writer
        self.fd = fd
        id = writer.register()
    }

    /// Gives the stream a free chunk as its buffer. The first time, before any output (as
    /// ISO C asks); after a hand-off, on a stream with nothing buffered (glibc's `setvbuf`
    /// may be called at any time: it flushes, then switches, libio/iosetvbuf.c).
    func install(on stream: UnsafeMutablePointer<FILE>) {
        installed = writer.acquire()
        let status = setvbuf(stream, writer.chunk(installed).assumingMemoryBound(to: CChar.self), _IOFBF,
                             writer.chunkSize)
        // glibc fails only for an invalid mode or a failed flush; the cookie never fails and
        // nothing is buffered. Were it to fail, stdio could still write into a queued chunk.
        precondition(status == 0, "setvbuf on a capture stream failed")
    }

    /// Queues the stream's buffered bytes without copying them and installs a fresh chunk.
    /// `fseek(stream, 0, SEEK_CUR)` flushes the buffer to the cookie (which takes the chunk,
    /// see `write`) and leaves stdio's put mode, so the next record fills the new buffer
    /// normally (after a bare `setvbuf` glibc would flush its next 16 bytes on their own).
    @inline(never)
    static func handOff(_ sink: Unmanaged<BackgroundSink>, _ stream: UnsafeMutablePointer<FILE>) {
        sink.takeUnretainedValue().handOff(stream)
    }

    func handOff(_ stream: UnsafeMutablePointer<FILE>) {
        handingOff = true
        let status = fseek(stream, 0, SEEK_CUR)
        handingOff = false
        precondition(status == 0, "fseek on a capture stream failed")
        if installed < 0 { install(on: stream) }
    }

    /// Called before `fclose`: its final flush hands the installed chunk over.
    func willClose() { handingOff = true }

    /// Called after `fclose`: returns the installed chunk if nothing was left to flush.
    func didClose() {
        handingOff = false
        if installed >= 0 { writer.release(installed) }
        installed = -1
    }

    /// The cookie's write function: takes the installed chunk during a hand-off, else
    /// copies (usually one chunk).
    func write(_ bytes: UnsafeRawPointer, _ count: Int) {
        position += Int64(count)
        if handingOff && installed >= 0 && bytes == UnsafeRawPointer(writer.chunk(installed)) {
            writer.submit(fd: fd, chunk: installed, length: count, sink: id)
            installed = -1
            return
        }
        var p = bytes, left = count
        while left > 0 {
            let c = writer.acquire()
            let n = min(left, writer.chunkSize)
            writer.chunk(c).copyMemory(from: p, byteCount: n)
            writer.submit(fd: fd, chunk: c, length: n, sink: id)
            p += n
            left -= n
        }
    }

    /// The cookie's seek function: reports the position (`fseek(stream, 0, SEEK_CUR)`);
    /// anything else fails, as on a pipe.
    func seek(_ offset: UnsafeMutablePointer<Int64>, _ whence: Int32) -> Int32 {
        guard whence == SEEK_CUR && offset.pointee == 0 else {
            errno = ESPIPE
            return -1
        }
        offset.pointee = position
        return 0
    }

    /// Everything handed over so far is in the kernel; returns the first write error (errno).
    func drain() -> Int32 {
        writer.drain(sink: id)
    }
}

/// One classic pcap savefile being written through libpcap: `pcap_dump_fopen` on a stdio
/// stream, which writes the 24-byte file header at once; `pcap_dump` formats each record.
/// The stream is fully buffered and locked by its caller (one thread at a time uses it).
/// With a `BackgroundWriter` it is a `fopencookie` stream into a `BackgroundSink`, whose
/// buffer is a pool chunk; without one, `fopen`'s with a `bufferSize` buffer of our own.
final class PcapDumpFile {
    let path: String
    private var dumper: OpaquePointer?
    private var buffer: UnsafeMutableRawPointer?
    private var sink: BackgroundSink?
    private(set) var fd: Int32 = -1

    /// Creates (truncates) `path` and writes the file header, flushed so that the file is
    /// a valid, empty capture from this moment on.
    init(path: String, handle: PcapDeadHandle, bufferSize: Int, writer: BackgroundWriter? = nil) throws(CaptureError) {
        self.path = path
        let file: UnsafeMutablePointer<FILE>
        if let writer {
            fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw .cannotOpen(path: path, message: LibC.errorText(errno)) }
            let sink = BackgroundSink(writer: writer, fd: fd)
            var io = podwire_cookie_io_functions_t()
            io.write = { cookie, bytes, count in
                guard let cookie, let bytes else { return 0 }
                Unmanaged<BackgroundSink>.fromOpaque(cookie).takeUnretainedValue().write(bytes, count)
                return count
            }
            io.seek = { cookie, offset, whence in
                guard let cookie, let offset else { return -1 }
                return Unmanaged<BackgroundSink>.fromOpaque(cookie).takeUnretainedValue().seek(offset, whence)
            }
            guard let f = podwire_fopencookie(Unmanaged.passUnretained(sink).toOpaque(), "w", io) else {
                let message = LibC.errorText(errno)
                Glibc.close(fd)
                throw .cannotOpen(path: path, message: message)
            }
            sink.install(on: f)
            self.sink = sink
            file = f
        } else {
            guard let f = fopen(path, "wb") else {
                throw .cannotOpen(path: path, message: LibC.errorText(errno))
            }
            if bufferSize > 0 {
                let buffer = UnsafeMutableRawPointer.allocate(byteCount: bufferSize, alignment: 4096)
                if setvbuf(f, buffer.assumingMemoryBound(to: CChar.self), _IOFBF, bufferSize) == 0 {
                    self.buffer = buffer
                } else {
                    buffer.deallocate()
                }
            }
            file = f
        }
        podwire_stdio_lock_by_caller(file)
        guard let dumper = pcap_dump_fopen(handle.raw, file) else {
            let message = handle.lastError
            sink?.willClose()
            fclose(file)
            sink?.didClose()
            close()
            throw .cannotOpen(path: path, message: message)
        }
        self.dumper = dumper
        if pcap_dump_flush(dumper) != 0 {
            let message = LibC.errorText(errno)
            close()
            throw .writeFailed(path: path, message: message)
        }
        // The header reaches the kernel now, not with the first full buffer.
        if let sink, case let code = sink.drain(), code != 0 {
            close()
            throw .writeFailed(path: path, message: LibC.errorText(code))
        }
    }

    deinit { close() }

    var ref: PcapDumperRef? {
        dumper.map {
            PcapDumperRef(raw: $0, stream: pcap_dump_file($0), sink: sink.map(Unmanaged.passUnretained),
                          bufferSize: sink?.writer.chunkSize ?? 0)
        }
    }
    var isOpen: Bool { dumper != nil }

    /// Flushes stdio (and the background queue), then asks the kernel to put the data on
    /// stable storage, reporting the first error the stream has seen (stdio and background
    /// errors are sticky, so a failed write in the middle of the run surfaces here).
    func flush(sync: Bool) throws(CaptureError) {
        guard let dumper else { return }
        let file = pcap_dump_file(dumper)!
        if let sink {
            sink.handOff(file)
        } else if pcap_dump_flush(dumper) != 0 {
            throw .writeFailed(path: path, message: LibC.errorText(errno))
        }
        if ferror(file) != 0 {
            throw .writeFailed(path: path, message: "a write failed earlier in the run (stdio error indicator set)")
        }
        if let sink {
            let code = sink.drain()
            if code != 0 { throw .writeFailed(path: path, message: LibC.errorText(code)) }
        }
        let descriptor = sink != nil ? fd : fileno(file)
        if sync, fsync(descriptor) != 0 {
            let code = errno
            // EINVAL: a special file (pipe, /dev/null, tmpfs on some kernels) cannot sync.
            if code != EINVAL && code != EROFS {
                throw .writeFailed(path: path, message: "fsync: " + LibC.errorText(code))
            }
        }
    }

    /// `pcap_dump_close` (which fcloses: the last buffer is queued), then waits for the
    /// background queue and closes the descriptor, or frees the stdio buffer. Idempotent.
    func close() {
        if let dumper {
            sink?.willClose()
            pcap_dump_close(dumper)
            sink?.didClose()
        }
        dumper = nil
        if let sink {
            _ = sink.drain()
            self.sink = nil
        }
        if fd >= 0 {
            _ = Glibc.close(fd)
            fd = -1
        }
        buffer?.deallocate()
        buffer = nil
    }
}

// MARK: - BPF

/// A `bpf_program` compiled by `pcap_compile`, freed by `pcap_freecode`.
final class CompiledBPF {
    private var program = bpf_program()
    let snaplen: Int

    /// Returns libpcap's own error text on failure.
    init(expression: String, snaplen: Int) throws(CaptureError) {
        guard let handle = PcapDeadHandle(snaplen: snaplen) else {
            throw .badFilter(expression: expression, message: "pcap_open_dead failed")
        }
        self.snaplen = handle.snaplen
        if pcap_compile(handle.raw, &program, expression, 1, PCAP_NETMASK_UNKNOWN) != 0 {
            throw .badFilter(expression: expression, message: handle.lastError)
        }
    }

    deinit { pcap_freecode(&program) }

    /// `pcap_offline_filter` over the first `capturedLength` bytes of a frame that was
    /// `originalLength` bytes on the wire.
    @inline(__always)
    func matches(_ bytes: UnsafeRawPointer, capturedLength: Int, originalLength: Int) -> Bool {
        var header = pcap_pkthdr()
        header.caplen = UInt32(truncatingIfNeeded: capturedLength)
        header.len = UInt32(truncatingIfNeeded: originalLength)
        return pcap_offline_filter(&program, &header, bytes.assumingMemoryBound(to: UInt8.self)) != 0
    }
}

// MARK: - Reader

/// `pcap_open_offline_with_tstamp_precision(path, NANO)` + `pcap_next_ex`.
final class PcapOfflineReader {
    private let raw: OpaquePointer
    let path: String

    init(path: String) throws(CaptureError) {
        self.path = path
        var errbuf = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        let opened = errbuf.withUnsafeMutableBufferPointer {
            pcap_open_offline_with_tstamp_precision(path, UInt32(PCAP_TSTAMP_PRECISION_NANO), $0.baseAddress)
        }
        guard let opened else {
            throw .cannotOpen(path: path, message: LibC.string(errbuf))
        }
        raw = opened
    }

    deinit { pcap_close(raw) }

    var linkType: Int32 { pcap_datalink(raw) }

    /// Calls `body` for every record (timestamps scaled to nanoseconds by libpcap).
    func forEach(_ body: (_ seconds: Int64, _ nanoseconds: Int64, _ bytes: UnsafeRawBufferPointer,
                          _ originalLength: Int) -> Void) throws(CaptureError) {
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        while true {
            let status = pcap_next_ex(raw, &header, &data)
            if status == 1, let h = header?.pointee {
                let bytes = UnsafeRawBufferPointer(start: data, count: Int(h.caplen))
                body(Int64(h.ts.tv_sec), Int64(h.ts.tv_usec), bytes, Int(h.len))
            } else if status == PCAP_ERROR_BREAK {   // -2: end of file
                return
            } else {
                throw .cannotOpen(path: path, message: "reading failed: " + String(cString: pcap_geterr(raw)))
            }
        }
    }

    /// The first four bytes of the file. libpcap scales timestamps to the precision asked
    /// for and has no call that reports the file's own, so the magic is read directly.
    static func magic(path: String) -> UInt32? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var magic: UInt32 = 0
        return fread(&magic, 4, 1, file) == 1 ? magic : nil
    }
}

// MARK: - libc: strings, globs, directories, whole files

enum LibC {
    static func errorText(_ code: Int32) -> String { String(cString: strerror(code)) }

    static func string(_ buffer: [CChar]) -> String {
        buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// `fnmatch(3)` with `FNM_PATHNAME`: `*`, `?` and `[...]` never match a `/`.
    static func globMatches(_ pattern: String, _ name: String) -> Bool {
        fnmatch(pattern, name, FNM_PATHNAME) == 0
    }

    /// `mkdir -p`. Returns nil or the errno of the failing component.
    static func makeDirectories(_ path: String) -> Int32? {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            prefix += component
            if mkdir(prefix, 0o755) != 0 {
                let code = errno
                if code != EEXIST { return code }
                guard let dir = opendir(prefix) else { return errno }
                closedir(dir)
            }
            prefix += "/"
        }
        return nil
    }

    /// Names in a directory (not "." or ".."), in no particular order.
    static func directoryEntries(_ path: String) -> (names: [String], errno: Int32?) {
        guard let dir = opendir(path) else { return ([], errno) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return (names, nil)
    }

    /// `unlink(2)`; a missing file is not an error.
    static func removeFile(_ path: String) -> Int32? {
        if unlink(path) == 0 || errno == ENOENT { return nil }
        return errno
    }

    /// Writes `bytes` to `path` so that readers see either the old file or the whole new
    /// one: write `path.tmp`, fsync, `rename(2)` over `path`, fsync the directory.
    static func writeFileAtomically(_ path: String, bytes: [UInt8], directory: String) -> String? {
        let temporary = path + ".tmp"
        guard let file = fopen(temporary, "wb") else { return "\(temporary): " + errorText(errno) }
        let written = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        var failure: String?
        if written != bytes.count || fflush(file) != 0 {
            failure = "\(temporary): " + errorText(errno)
        } else if fsync(fileno(file)) != 0, errno != EINVAL, errno != EROFS {
            failure = "\(temporary): fsync: " + errorText(errno)
        }
        if fclose(file) != 0, failure == nil { failure = "\(temporary): " + errorText(errno) }
        if let failure {
            unlink(temporary)
            return failure
        }
        if rename(temporary, path) != 0 {
            let message = "rename \(temporary): " + errorText(errno)
            unlink(temporary)
            return message
        }
        let fd = open(directory, O_RDONLY)
        if fd >= 0 {
            _ = fsync(fd)
            _ = close(fd)
        }
        return nil
    }
}
