using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Text;

namespace Raid5Actors.Disks;

/// <summary>What happens to a <see cref="SimulatedDisk"/>'s unflushed writes when it loses power.</summary>
public enum PowerLossMode
{
    /// <summary>None of the unflushed writes survive: the platter keeps its last flushed state.</summary>
    DropAll,

    /// <summary>
    /// Each unflushed write independently survives or not, possibly torn at sector granularity (only
    /// some of its 512-byte sectors survive), and the survivors land in a random order, so a later
    /// write may survive while an earlier overlapping one does not, or land underneath it.
    /// </summary>
    KeepRandomSubset,

    /// <summary>Every unflushed write survives, in order (as if the cache were flushed in time).</summary>
    KeepAll,
}

/// <summary>A byte range <c>[OffsetBytes, OffsetBytes + LengthBytes)</c> of a simulated disk.</summary>
public readonly record struct ByteRange(long OffsetBytes, long LengthBytes)
{
    public long EndBytes => OffsetBytes + LengthBytes;

    public bool Overlaps(long offsetBytes, long lengthBytes) =>
        offsetBytes < EndBytes && OffsetBytes < offsetBytes + lengthBytes;

    public override string ToString() => $"[{OffsetBytes}, {EndBytes})";
}

/// <summary>
/// The faults a <see cref="SimulatedDisk"/> injects. Immutable: a test swaps a whole new value in
/// (<see cref="SimulatedDisk.Faults"/>), so the data path reads one consistent set without a lock.
/// Ranges are raw store offsets (superblock and data offset included); an operation fails when it
/// overlaps a range. The "after" thresholds are absolute operation ordinals of the disk (see
/// <see cref="SimulatedDisk.ReadCount"/>): the read numbered above the threshold fails.
/// </summary>
public sealed record SimulatedFaults
{
    public static readonly SimulatedFaults None = new();

    public ImmutableArray<ByteRange> FailedReadRanges { get; init; } = [];

    public ImmutableArray<ByteRange> FailedWriteRanges { get; init; } = [];

    /// <summary>Reads numbered above this (1-based, counted over the disk's life) fail.</summary>
    public long? FailReadsAboveCount { get; init; }

    /// <summary>Writes numbered above this (1-based, counted over the disk's life) fail.</summary>
    public long? FailWritesAboveCount { get; init; }

    public bool FailFlush { get; init; }

    /// <summary>Added before every operation, including ones that then fail.</summary>
    public TimeSpan LatencyPerOperation { get; init; } = TimeSpan.Zero;

    /// <summary>Every operation fails, like a pulled disk.</summary>
    public bool Dead { get; init; }
}

/// <summary>What a power loss left on the platter, for test output.</summary>
public sealed record PowerLossReport(
    string Disk,
    PowerLossMode Mode,
    int UnflushedWrites,
    int KeptWhole,
    int KeptTorn,
    int Dropped,
    string Detail)
{
    public override string ToString() =>
        $"{Disk}: power lost ({Mode}), {UnflushedWrites} unflushed writes: {KeptWhole} kept whole, " +
        $"{KeptTorn} torn, {Dropped} dropped{(Detail.Length == 0 ? "" : "; " + Detail)}";
}

/// <summary>
/// The durable state of one simulated disk: a platter (what survives power loss) and a volatile
/// write cache of pending writes in arrival order. Reads see the cache over the platter;
/// <see cref="Flush"/> moves the cache to the platter; <see cref="LosePower"/> discards it, keeping
/// none, a random (possibly torn, reordered) subset, or all of it. The cache is bounded: past its
/// limits the oldest writes go to the platter, as a real disk writes back on its own.
/// <para>
/// Threads: the data path (<see cref="Read"/>, <see cref="Write"/>, <see cref="Flush"/>) is used by
/// one <see cref="MemberDiskActor"/> at a time, and <see cref="LosePower"/> by a test thread while no
/// actor uses the disk. None of them lock; a tripwire throws if two of them overlap. Only the fault
/// rules may be changed at any time from any thread: they are one immutable
/// <see cref="SimulatedFaults"/> swapped atomically.
/// </para>
/// </summary>
public sealed class SimulatedDisk
{
    public const int kSectorBytes = 512;
    public const long kDefaultCacheLimitBytes = 64L << 20;
    public const int kDefaultCacheLimitWrites = 16 * 1024;

    private readonly byte[] _platter;
    private readonly List<PendingWrite> _cache = [];
    private readonly long _cacheLimitBytes;
    private readonly int _cacheLimitWrites;
    private long _cacheBytes;
    private SimulatedFaults _faults = SimulatedFaults.None;
    private long _reads;
    private long _writes;
    private long _flushes;
    private int _inUse;

    public SimulatedDisk(
        string name,
        long lengthBytes,
        long cacheLimitBytes = kDefaultCacheLimitBytes,
        int cacheLimitWrites = kDefaultCacheLimitWrites)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(lengthBytes);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(lengthBytes, Array.MaxLength);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(cacheLimitBytes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(cacheLimitWrites);
        Name = name;
        _platter = new byte[lengthBytes];
        _cacheLimitBytes = cacheLimitBytes;
        _cacheLimitWrites = cacheLimitWrites;
    }

    public string Name { get; }

    public long LengthBytes => _platter.LongLength;

    /// <summary>The durable bytes, without the cache. Live: look at it only while no actor runs.</summary>
    public byte[] Platter => _platter;

    public int PendingWrites => _cache.Count;

    public long PendingWriteBytes => _cacheBytes;

    /// <summary>Reads attempted over the disk's life, failed ones included.</summary>
    public long ReadCount => Interlocked.Read(ref _reads);

    /// <summary>Writes attempted over the disk's life, failed ones included.</summary>
    public long WriteCount => Interlocked.Read(ref _writes);

    public long FlushCount => Interlocked.Read(ref _flushes);

    /// <summary>The fault rules in force; settable at any time, from any thread.</summary>
    public SimulatedFaults Faults
    {
        get => Volatile.Read(ref _faults);
        set => Volatile.Write(ref _faults, value ?? throw new ArgumentNullException(nameof(value)));
    }

    public void FailReads(long offsetBytes, long lengthBytes) =>
        ChangeFaults(f => f with { FailedReadRanges = f.FailedReadRanges.Add(new ByteRange(offsetBytes, lengthBytes)) });

    public void FailWrites(long offsetBytes, long lengthBytes) =>
        ChangeFaults(f => f with { FailedWriteRanges = f.FailedWriteRanges.Add(new ByteRange(offsetBytes, lengthBytes)) });

    /// <summary>The next <paramref name="reads"/> reads succeed (unless another rule fails them); every later one fails.</summary>
    public void FailReadsAfter(int reads)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(reads);
        var threshold = ReadCount + reads;
        ChangeFaults(f => f with { FailReadsAboveCount = threshold });
    }

    /// <summary>The next <paramref name="writes"/> writes succeed (unless another rule fails them); every later one fails.</summary>
    public void FailWritesAfter(int writes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(writes);
        var threshold = WriteCount + writes;
        ChangeFaults(f => f with { FailWritesAboveCount = threshold });
    }

    public void FailFlushes(bool fail = true) => ChangeFaults(f => f with { FailFlush = fail });

    public void SetLatency(TimeSpan perOperation)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(perOperation, TimeSpan.Zero);
        ChangeFaults(f => f with { LatencyPerOperation = perOperation });
    }

    /// <summary>Every operation fails from now on, like a pulled disk; the platter and cache are kept.</summary>
    public void Kill() => ChangeFaults(f => f with { Dead = true });

    public void Revive() => ChangeFaults(f => f with { Dead = false });

    public void ClearFaults() => Faults = SimulatedFaults.None;

    /// <summary>Atomically replaces the fault rules with <c>change(current)</c> (a compare-and-swap loop, no lock).</summary>
    public void ChangeFaults(Func<SimulatedFaults, SimulatedFaults> change)
    {
        while (true)
        {
            var current = Volatile.Read(ref _faults);
            var next = change(current) ?? throw new InvalidOperationException("a fault change returned null");
            if (ReferenceEquals(Interlocked.CompareExchange(ref _faults, next, current), current))
                return;
        }
    }

    public void Read(long offsetBytes, Span<byte> destination)
    {
        var number = Interlocked.Increment(ref _reads);
        var faults = BeforeOperation("read", offsetBytes);
        CheckBounds(offsetBytes, destination.Length);
        if (faults.FailReadsAboveCount is { } limit && number > limit)
            throw Injected("read", offsetBytes, $"read #{number} is past the limit of {limit}");
        foreach (var range in faults.FailedReadRanges)
        {
            if (range.Overlaps(offsetBytes, destination.Length))
                throw Injected("read", offsetBytes, $"bad range {range}");
        }

        EnterDataPath();
        try
        {
            _platter.AsSpan(checked((int)offsetBytes), destination.Length).CopyTo(destination);
            // Later writes win: overlay the cache in arrival order.
            foreach (var pending in _cache)
                pending.OverlayOnto(offsetBytes, destination);
        }
        finally
        {
            LeaveDataPath();
        }
    }

    public void Write(long offsetBytes, ReadOnlySpan<byte> source)
    {
        var number = Interlocked.Increment(ref _writes);
        var faults = BeforeOperation("write", offsetBytes);
        CheckBounds(offsetBytes, source.Length);
        if (faults.FailWritesAboveCount is { } limit && number > limit)
            throw Injected("write", offsetBytes, $"write #{number} is past the limit of {limit}");
        foreach (var range in faults.FailedWriteRanges)
        {
            if (range.Overlaps(offsetBytes, source.Length))
                throw Injected("write", offsetBytes, $"bad range {range}");
        }

        if (source.IsEmpty)
            return;
        EnterDataPath();
        try
        {
            // The caller gets its buffer back when we return: keep a copy.
            _cache.Add(new PendingWrite(offsetBytes, source.ToArray()));
            _cacheBytes += source.Length;
            while (_cache.Count > _cacheLimitWrites || _cacheBytes > _cacheLimitBytes)
                WriteBackOldest();
        }
        finally
        {
            LeaveDataPath();
        }
    }

    /// <summary>Moves the whole cache to the platter. A failed flush keeps the cache (nothing became durable).</summary>
    public void Flush()
    {
        Interlocked.Increment(ref _flushes);
        var faults = BeforeOperation("flush", 0);
        if (faults.FailFlush)
            throw Injected("flush", 0, "flush failure rule");

        EnterDataPath();
        try
        {
            foreach (var pending in _cache)
                pending.ApplyTo(_platter);
            _cache.Clear();
            _cacheBytes = 0;
        }
        finally
        {
            LeaveDataPath();
        }
    }

    /// <summary>
    /// Drops the volatile cache as a power cut would, keeping what <paramref name="mode"/> says.
    /// Call it while no actor uses the disk. Fault rules are left as they are.
    /// </summary>
    public PowerLossReport LosePower(Random random, PowerLossMode mode)
    {
        ArgumentNullException.ThrowIfNull(random);
        EnterDataPath();
        try
        {
            var report = mode switch
            {
                PowerLossMode.DropAll => new PowerLossReport(Name, mode, _cache.Count, 0, 0, _cache.Count, ""),
                PowerLossMode.KeepAll => KeepAll(),
                PowerLossMode.KeepRandomSubset => KeepRandomSubset(random),
                _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, "unknown power loss mode"),
            };
            _cache.Clear();
            _cacheBytes = 0;
            return report;
        }
        finally
        {
            LeaveDataPath();
        }
    }

    private PowerLossReport KeepAll()
    {
        foreach (var pending in _cache)
            pending.ApplyTo(_platter);
        return new PowerLossReport(Name, PowerLossMode.KeepAll, _cache.Count, _cache.Count, 0, 0, "");
    }

    private PowerLossReport KeepRandomSubset(Random random)
    {
        // Survivors are cut into sector pieces (at absolute 512-byte boundaries, so an unaligned
        // write tears where the disk's sectors do) and every piece lands atomically, in random order:
        // each sector ends up holding its old value or one of the values written to it, never a mix.
        var pieces = new List<(PendingWrite Write, long OffsetBytes, int LengthBytes)>();
        var detail = new StringBuilder();
        int whole = 0, torn = 0, dropped = 0;
        for (var i = 0; i < _cache.Count; i++)
        {
            var pending = _cache[i];
            var sectors = pending.SectorPieces().ToList();
            detail.Append(i == 0 ? "" : ", ").Append($"#{i} {pending}");
            if (random.Next(2) == 0)
            {
                dropped++;
                detail.Append(" dropped");
                continue;
            }
            if (sectors.Count == 1 || random.Next(2) == 0)
            {
                whole++;
                detail.Append(" kept");
                pieces.AddRange(sectors.Select(s => (pending, s.OffsetBytes, s.LengthBytes)));
                continue;
            }
            var kept = sectors.Where(_ => random.Next(2) == 0).ToList();
            torn++;
            detail.Append($" torn, kept {kept.Count} of {sectors.Count} sectors");
            pieces.AddRange(kept.Select(s => (pending, s.OffsetBytes, s.LengthBytes)));
        }

        var order = pieces.ToArray();
        random.Shuffle(order);
        foreach (var (write, offsetBytes, lengthBytes) in order)
            write.ApplyPieceTo(_platter, offsetBytes, lengthBytes);
        return new PowerLossReport(Name, PowerLossMode.KeepRandomSubset, _cache.Count, whole, torn, dropped, detail.ToString());
    }

    private void WriteBackOldest()
    {
        var oldest = _cache[0];
        oldest.ApplyTo(_platter);
        _cache.RemoveAt(0);
        _cacheBytes -= oldest.Bytes.Length;
    }

    private SimulatedFaults BeforeOperation(string operation, long offsetBytes)
    {
        var faults = Faults;
        // Sleeping is acceptable here: a store runs on its member's dedicated dispatcher thread,
        // never on the default dispatcher, so this stalls only the member being simulated.
        if (faults.LatencyPerOperation > TimeSpan.Zero)
            Thread.Sleep(faults.LatencyPerOperation);
        if (faults.Dead)
            throw Injected(operation, offsetBytes, "the disk is dead");
        return faults;
    }

    private IOException Injected(string operation, long offsetBytes, string why) =>
        new($"{Name}: {operation} at offset {offsetBytes} failed (injected: {why})");

    private void CheckBounds(long offsetBytes, int lengthBytes)
    {
        if (offsetBytes < 0 || offsetBytes + lengthBytes > LengthBytes)
            throw new ArgumentOutOfRangeException(
                nameof(offsetBytes), $"{Name}: [{offsetBytes}, {offsetBytes + lengthBytes}) is outside the disk of {LengthBytes} bytes");
    }

    // Not a lock: a tripwire for the "one user at a time" rule above.
    private void EnterDataPath()
    {
        if (Interlocked.Exchange(ref _inUse, 1) != 0)
            throw new InvalidOperationException($"{Name}: used by two threads at once (a store is single-user; power loss only while no actor runs)");
    }

    private void LeaveDataPath() => Volatile.Write(ref _inUse, 0);

    private sealed record PendingWrite(long OffsetBytes, byte[] Bytes)
    {
        public long EndBytes => OffsetBytes + Bytes.Length;

        public void ApplyTo(byte[] platter) => Bytes.CopyTo(platter, OffsetBytes);

        public void ApplyPieceTo(byte[] platter, long offsetBytes, int lengthBytes) =>
            Bytes.AsSpan(checked((int)(offsetBytes - OffsetBytes)), lengthBytes).CopyTo(platter.AsSpan(checked((int)offsetBytes)));

        /// <summary>Copies the part of this write that falls in <c>[offsetBytes, offsetBytes + destination.Length)</c>.</summary>
        public void OverlayOnto(long offsetBytes, Span<byte> destination)
        {
            var start = Math.Max(offsetBytes, OffsetBytes);
            var end = Math.Min(offsetBytes + destination.Length, EndBytes);
            if (start >= end)
                return;
            Bytes.AsSpan((int)(start - OffsetBytes), (int)(end - start)).CopyTo(destination[(int)(start - offsetBytes)..]);
        }

        public IEnumerable<(long OffsetBytes, int LengthBytes)> SectorPieces()
        {
            var at = OffsetBytes;
            while (at < EndBytes)
            {
                var next = Math.Min(EndBytes, (at / kSectorBytes + 1) * kSectorBytes);
                yield return (at, (int)(next - at));
                at = next;
            }
        }

        public override string ToString() => $"[{OffsetBytes}, {EndBytes})";
    }
}

/// <summary>
/// An <see cref="IMemberStore"/> over a <see cref="SimulatedDisk"/>: a handle, like an open file.
/// The disk (its bytes and faults) outlives the store, so an array can be stopped, the disk can lose
/// power, and the array can be reopened over what survived.
/// </summary>
public sealed class SimulatedMemberStore(SimulatedDisk disk) : IMemberStore
{
    private int _disposed;

    public SimulatedDisk Disk { get; } = disk;

    public string Name => Disk.Name;

    public long LengthBytes => Disk.LengthBytes;

    public void Read(long offsetBytes, Span<byte> destination)
    {
        ThrowIfDisposed();
        Disk.Read(offsetBytes, destination);
    }

    public void Write(long offsetBytes, ReadOnlySpan<byte> source)
    {
        ThrowIfDisposed();
        Disk.Write(offsetBytes, source);
    }

    public void Flush()
    {
        ThrowIfDisposed();
        Disk.Flush();
    }

    /// <summary>Closing a handle does not flush: unflushed writes stay in the disk's cache.</summary>
    public void Dispose() => Volatile.Write(ref _disposed, 1);

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
}

/// <summary>
/// Simulated members by role (<c>sim:N</c>) that outlive the arrays using them. A test reaches each
/// disk through <see cref="Disk"/> to inject faults, cuts power to all of them, pulls one out, or
/// looks at the durable bytes.
/// </summary>
public sealed class SimulatedMemberStoreProvider(
    long cacheLimitBytes = SimulatedDisk.kDefaultCacheLimitBytes,
    int cacheLimitWrites = SimulatedDisk.kDefaultCacheLimitWrites) : IMemberStoreProvider
{
    private readonly ConcurrentDictionary<int, SimulatedDisk> _disks = new();

    public string Describe(int role) => $"sim:{role}";

    public bool Exists(int role) => _disks.ContainsKey(role);

    /// <summary>Adds a blank disk of the given size (as if the user brought a disk).</summary>
    public SimulatedDisk AddBlank(int role, long lengthBytes)
    {
        var disk = new SimulatedDisk(Describe(role), lengthBytes, cacheLimitBytes, cacheLimitWrites);
        if (!_disks.TryAdd(role, disk))
            throw new Raid5MemberException($"member {Describe(role)} already exists");
        return disk;
    }

    public IMemberStore Create(int role, long lengthBytes) => new SimulatedMemberStore(AddBlank(role, lengthBytes));

    public IMemberStore Open(int role) =>
        _disks.TryGetValue(role, out var disk)
            ? new SimulatedMemberStore(disk)
            : throw new Raid5MemberException($"member {Describe(role)} is missing");

    public SimulatedDisk Disk(int role) =>
        _disks.TryGetValue(role, out var disk)
            ? disk
            : throw new Raid5MemberException($"member {Describe(role)} is missing");

    /// <summary>
    /// Pulls the disk out: <see cref="Open"/> then fails as missing, and stores already open on it
    /// fail every operation (the disk is killed). <see cref="Insert"/> puts it back.
    /// </summary>
    public SimulatedDisk Remove(int role)
    {
        if (!_disks.TryRemove(role, out var disk))
            throw new Raid5MemberException($"member {Describe(role)} is missing");
        disk.Kill();
        return disk;
    }

    /// <summary>Puts a (pulled) disk in at a role and revives it; other fault rules stay.</summary>
    public void Insert(int role, SimulatedDisk disk)
    {
        if (!_disks.TryAdd(role, disk))
            throw new Raid5MemberException($"member {Describe(role)} already exists");
        disk.Revive();
    }

    /// <summary>Cuts power to every disk, in role order. Call it while no array uses them.</summary>
    public IReadOnlyList<PowerLossReport> LosePowerAll(Random random, PowerLossMode mode) =>
        _disks.OrderBy(d => d.Key).Select(d => d.Value.LosePower(random, mode)).ToList();

    /// <summary>The durable bytes of a member (no cache), for assertions. Live: look while no actor runs.</summary>
    public byte[] RawPlatter(int role) => Disk(role).Platter;
}
