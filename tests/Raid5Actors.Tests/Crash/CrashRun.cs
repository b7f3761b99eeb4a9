using System.Diagnostics;
using System.Text;
using Akka.Actor;
using Akka.Configuration;
using Raid5Actors.Arrays;
using Raid5Actors.Disks;
using Raid5Actors.Geometry;
using Raid5Actors.Persistence;
using Raid5Actors.Stripes;
using Raid5Actors.Tests.Bitmap;
using Raid5Actors.Tests.Model;
using Xunit.Abstractions;

namespace Raid5Actors.Tests.Crash;

/// <summary>One seeded run of the crash property: an array, and <c>Rounds</c> crash points on it.</summary>
public sealed record CrashRunOptions(
    Raid5Layout Layout,
    int Members,
    long BitmapChunkBytes,
    int Rounds,
    int Seed,
    BitmapJournalMode JournalMode = BitmapJournalMode.Honest,
    bool QuietDaemon = false)
{
    public override string ToString() =>
        $"{Raid5LayoutNames.ToName(Layout)} n={Members} bitmap-chunk={BitmapChunkBytes >> 10}KiB seed={Seed}"
        + $"{(JournalMode == BitmapJournalMode.Honest ? "" : $" journal={JournalMode}")}{(QuietDaemon ? " quiet-daemon" : "")}";
}

/// <summary>What one crash point found.</summary>
public sealed record CrashPointResult(
    int Round,
    string CrashPoint,
    int[] DurableBits,
    long[] InconsistentRows,
    long[] RowsOutsideDurableBits,
    IReadOnlyList<string> Failures)
{
    public bool ViolatesI3 => RowsOutsideDurableBits.Length > 0;
}

/// <summary>
/// The crash property of the write-intent bitmap (DESIGN I1-I3), one array at a time:
/// <list type="number">
/// <item>run a random workload with writes in flight (concurrent, overlapping) and flushes now and then;</item>
/// <item>lose power at a random instant: the journal's power switch is cut, every simulated disk
/// is killed, the ActorSystem is terminated without the clean stop, and every disk drops a random
/// (torn, reordered) subset of its unflushed writes;</item>
/// <item>read the durable bitmap bits from the SQLite file and check I3 on the raw platters: every
/// row whose parity is inconsistent lies under a durable bit;</item>
/// <item>reopen: the engine resyncs exactly the rows under the durable bits, after which every row
/// is consistent, and every byte holds a value the writes allow (acknowledged before the last
/// completed flush = exact; later or unacknowledged = old or new);</item>
/// <item>go on with the next round on the reopened array.</item>
/// </list>
/// Failures are collected, not thrown, so one run reports every crash point that broke something;
/// a row left inconsistent is repaired before the next round so later rounds still mean something.
/// </summary>
public sealed class CrashRun(CrashRunOptions options, ITestOutputHelper output)
{
    public const string kArrayName = "crash";
    public const int kChunkBytes = 4096;
    public const int kRows = 96;

    private static readonly TimeSpan kDrainTimeout = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan kSyncTimeout = TimeSpan.FromSeconds(60);

    private readonly Random _random = new(options.Seed);
    private readonly SimulatedMemberStoreProvider _disks = new();
    private readonly List<CrashPointResult> _results = [];
    private readonly string _folder = TestArrays.NewFolder("crash");
    private PowerSwitch _power = new(options.JournalMode);
    private Raid5Array? _array;
    private ArrayMetadata _metadata = null!;
    private byte[] _content = [];

    public IReadOnlyList<CrashPointResult> Results => _results;

    private string DatabasePath => Path.Combine(_folder, "array.db");

    /// <summary>
    /// Tunables that make the bitmap busy in a short run: the daemon clears idle bits within
    /// ~50 ms (unless <paramref name="quietDaemon"/>: never), snapshots are frequent, and the stripe
    /// cache is small enough to fill.
    /// </summary>
    public static Config BaseConfig(BitmapJournalMode mode, bool quietDaemon = false) => ConfigurationFactory.ParseString($$"""
        raid5 {
          stripe-cache-size = 12
          request-timeout = 30s
          # The sync actor admits rows-in-flight rows per 50 ms tick whatever speed-max says: with
          # 4 KiB chunks the default 8 caps a resync at 640 KiB/s. 64 keeps a resync of this small
          # array to a tick or two.
          sync.rows-in-flight = 64
          bitmap {
            daemon-sleep = {{(quietDaemon ? "1h" : "25ms")}}
            # Frequent snapshots exercise snapshot + delete under the crash; the broken write-back
            # journal is run without them so that nothing but its own lie decides what is durable.
            snapshot-every-events = {{(mode == BitmapJournalMode.Honest ? 3 : 100000)}}
          }
        }
        akka.loglevel = ERROR
        """);

    /// <param name="stopAtFirstViolation">Stop after the first crash point that breaks I3 (the teeth test).</param>
    public async Task RunAsync(bool stopAtFirstViolation = false)
    {
        output.WriteLine($"crash run {options}: {options.Rounds} crash points");
        try
        {
            var create = new Raid5CreateOptions(
                options.Members, MemberSuperblock.kDefaultDataOffsetBytes + kRows * kChunkBytes, kChunkBytes, options.Layout, options.BitmapChunkBytes);
            _array = await Raid5Array.CreateAsync(_folder, create, Options(_power));
            _metadata = _array.Metadata;
            _content = new byte[_array.CapacityBytes];
            await using var journal = new DurableJournal(DatabasePath, kArrayName);
            for (var round = 1; round <= options.Rounds; round++)
            {
                var result = await CrashPointAsync(round, journal, stopAtFirstViolation);
                _results.Add(result);
                if (stopAtFirstViolation && result.ViolatesI3)
                    return;
            }

            // A clean stop at the end leaves every row consistent.
            await _array!.DisposeAsync();
            _array = null;
            var atEnd = InconsistentRows(_metadata);
            if (atEnd.Count > 0)
                _results[^1] = _results[^1] with { Failures = [.. _results[^1].Failures, $"rows [{string.Join(", ", atEnd)}] inconsistent after the final clean stop"] };
        }
        finally
        {
            // Torn down, not disposed: a run that threw may have left the array in any state, and
            // its clean stop is not what is under test here.
            if (_array is not null)
                await TerminateAsync(_array);
            _power.Dispose();
            SqlitePersistence.ReleaseDatabase(DatabasePath);
            try
            {
                Directory.Delete(_folder, recursive: true);
            }
            catch (IOException)
            {
                // Best effort: a temp folder left behind is harmless.
            }
        }
    }

    /// <summary>One crash point: workload, power loss, I3 on the durable state, reopen and resync, data check.</summary>
    private async Task<CrashPointResult> CrashPointAsync(int round, DurableJournal journal, bool stopAtViolation)
    {
        var phases = new Phases();
        var failures = new List<string>();
        var ledger = new CrashLedger();
        var crashPoint = await WorkloadAsync(_array!, ledger, _metadata.Geometry, failures);
        phases.End("workload");
        var lossReports = await CrashAsync(_array!, _power, ledger);
        _array = null;
        _power.Dispose();
        failures.AddRange(ledger.FailuresBeforeCrash());
        if (_power.DroppedWrites > 0)
            crashPoint += $", {_power.DroppedWrites} acknowledged bitmap writes dropped by the write-back journal";
        phases.End("crash");

        var bitmap = await journal.ReadBitmapAsync();
        var clean = (await journal.ReadMetadataAsync())?.Clean ?? false;
        var inconsistent = InconsistentRows(_metadata);
        var outside = CheckI3(bitmap, clean, inconsistent, lossReports, failures);
        var result = new CrashPointResult(round, crashPoint, bitmap.Bits, [.. inconsistent], outside, failures);
        phases.End("check");
        if (!(stopAtViolation && result.ViolatesI3))
        {
            await ReopenAndResyncAsync(clean, bitmap.Bits, failures, phases);
            CheckData(ledger, await ReadAllAsync(_array!), failures);
            phases.End("verify");
        }
        Report(result, ledger, phases);
        return result;
    }

    /// <summary>I3 on the durable state, before anything is reopened: every inconsistent row lies under a durable bit.</summary>
    private long[] CheckI3(RecoveredBitmap bitmap, bool clean, List<long> inconsistent, IReadOnlyList<PowerLossReport> lossReports, List<string> failures)
    {
        // Recorded clean means no write was let out since the last clean stop: then no row may be inconsistent at all.
        var outside = inconsistent.Where(row => clean || !bitmap.Bits.Contains(BitOf(_metadata, row))).ToArray();
        if (outside.Length > 0)
        {
            failures.Add($"I3: rows [{string.Join(", ", outside)}] are inconsistent but lie under no durable bit "
                + $"(clear bits {string.Join(",", outside.Select(r => BitOf(_metadata, r)).Distinct())}; durable bits [{string.Join(",", bitmap.Bits)}]"
                + $"{(clean ? "; the array is recorded clean" : "")}); bitmap journal: {History(bitmap)}; "
                + $"power loss: {string.Join("; ", lossReports.Select(Describe))}");
        }
        return outside;
    }

    /// <summary>Reopen: the engine resyncs exactly the rows under the durable bits, and then every row is consistent.</summary>
    private async Task ReopenAndResyncAsync(bool clean, int[] durableBits, List<string> failures, Phases phases)
    {
        _power = new PowerSwitch(options.JournalMode);
        _array = await Raid5Array.OpenAsync(_folder, Options(_power));
        phases.End("open");
        await CheckResyncAsync(_array, _metadata, clean, durableBits, failures);
        await _array.FlushAsync();
        phases.End("resync");
        var afterResync = InconsistentRows(_metadata);
        if (afterResync.Count == 0)
            return;
        failures.Add($"rows [{string.Join(", ", afterResync)}] are still inconsistent after the resync; repairing them to go on");
        await _array.StartSyncAsync(SyncKind.Repair);
        await _array.WaitForSyncAsync(kSyncTimeout);
        await _array.FlushAsync();
        phases.End("repair");
    }

    /// <summary>Every byte holds what the writes allow; what it holds now is the next round's start.</summary>
    private void CheckData(CrashLedger ledger, byte[] actual, List<string> failures)
    {
        var mismatches = AllowedBytes.Check(_content, ledger.Writes, ledger.DurableWrites(), actual);
        foreach (var mismatch in mismatches.Take(8))
            failures.Add($"data: {mismatch}");
        if (mismatches.Count > 8)
            failures.Add($"data: {mismatches.Count - 8} more mismatched ranges");
        _content = actual;
    }

    /// <summary>Where the time of a crash point went, for the report.</summary>
    private sealed class Phases
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private readonly StringBuilder _text = new();

        public void End(string phase)
        {
            _text.Append($"{phase} {_clock.ElapsedMilliseconds}ms ");
            _clock.Restart();
        }

        public override string ToString() => _text.ToString().TrimEnd();
    }

    private Raid5ArrayOptions Options(PowerSwitch power) => new()
    {
        Members = _disks,
        Name = kArrayName,
        Config = power.PluginOverride(kArrayName).WithFallback(BaseConfig(options.JournalMode, options.QuietDaemon)),
    };

    /// <summary>
    /// Writes (1-6 at once, overlapping allowed, some FUA), flushes, waits for what is in flight, and
    /// pauses long enough for the bitmap daemon to clear idle bits; mostly within a few hot zones so
    /// that many bits stay clear. Returns a description of the crash point it stopped at.
    /// </summary>
    private async Task<string> WorkloadAsync(Raid5Array array, CrashLedger ledger, ArrayGeometry geometry, List<string> failures)
    {
        var steps = _random.Next(2, 14);
        var zones = Enumerable.Range(0, _random.Next(1, 4)).Select(_ => PickZone(geometry)).ToList();
        var zone = zones[0];
        var log = new StringBuilder();
        for (var step = 0; step < steps; step++)
        {
            var roll = _random.Next(100);
            if (roll < 60)
            {
                var count = _random.Next(1, 7);
                for (var i = 0; i < count; i++)
                {
                    var (offset, length) = PickRange(geometry, _random.Next(10) == 0 ? (0, geometry.CapacityBytes) : zone);
                    var data = new byte[length];
                    _random.NextBytes(data);
                    ledger.Write(array, offset, data, fua: _random.Next(25) == 0);
                }
                log.Append($"W{count} ");
            }
            else if (roll < 75)
            {
                ledger.Flush(array);
                log.Append("F ");
            }
            else if (roll < 88)
            {
                if (!await ledger.DrainAsync(kDrainTimeout))
                    failures.Add($"requests did not answer within {kDrainTimeout} before the crash");
                log.Append("D ");
            }
            else
            {
                if (!await ledger.DrainAsync(kDrainTimeout))
                    failures.Add($"requests did not answer within {kDrainTimeout} before the crash");
                var pause = _random.Next(20, 100);
                await Task.Delay(pause);
                zone = zones[_random.Next(zones.Count)];
                log.Append($"P{pause}ms ");
            }
        }

        // The instant itself: right away, after the continuations queued so far, or a little later.
        switch (_random.Next(4))
        {
            case 0:
                log.Append("crash at once");
                break;
            case 1:
                await Task.Yield();
                log.Append("crash after a yield");
                break;
            case 2:
                var delay = _random.Next(1, 8);
                await Task.Delay(delay);
                log.Append($"crash after {delay}ms");
                break;
            default:
                var spins = _random.Next(1_000, 200_000);
                Thread.SpinWait(spins);
                log.Append($"crash after {spins} spins");
                break;
        }
        return $"{log} with {ledger.Outstanding} requests in flight";
    }

    /// <summary>A few rows of the device, in logical bytes.</summary>
    private (long Start, long End) PickZone(ArrayGeometry geometry)
    {
        var rowsPerBit = (int)(options.BitmapChunkBytes / kChunkBytes);
        var first = _random.NextInt64(0, geometry.RowCount);
        var rows = _random.Next(1, 2 * rowsPerBit + 1);
        var end = Math.Min(geometry.RowCount, first + rows);
        return (first * geometry.RowDataBytes, end * geometry.RowDataBytes);
    }

    private (long Offset, int Length) PickRange(ArrayGeometry geometry, (long Start, long End) zone)
    {
        const int kSector = ArrayGeometry.kSectorBytes;
        var maxSectors = (int)(2 * geometry.RowDataBytes / kSector);
        var sectors = _random.Next(4) == 0 ? _random.Next(1, maxSectors + 1) : _random.Next(1, 17);
        var first = zone.Start / kSector;
        var last = Math.Max(first, zone.End / kSector - 1);
        var offset = _random.NextInt64(first, last + 1) * kSector;
        var length = (int)Math.Min((long)sectors * kSector, geometry.CapacityBytes - offset);
        return (offset, length);
    }

    /// <summary>The power goes under the round's workload; each disk then keeps a random part of its cache.</summary>
    private async Task<IReadOnlyList<PowerLossReport>> CrashAsync(Raid5Array array, PowerSwitch power, CrashLedger ledger)
    {
        ledger.Crash();
        await PowerOffAsync(array, power, _disks, options.Members, DatabasePath);
        var reports = _disks.LosePowerAll(_random, PowerLossMode.KeepRandomSubset);
        for (var role = 0; role < options.Members; role++)
            _disks.Disk(role).Revive();
        return reports;
    }

    /// <summary>
    /// Journal and disks lose power at the same instant (the journal first, so nothing the engine
    /// does after seeing dead disks can become durable), then the ActorSystem is torn down without
    /// the clean stop. The disks stay dead, their caches untouched: the caller decides what survives.
    /// </summary>
    public static async Task PowerOffAsync(Raid5Array array, PowerSwitch power, SimulatedMemberStoreProvider disks, int members, string databasePath)
    {
        power.Cut();
        for (var role = 0; role < members; role++)
            disks.Disk(role).Kill();
        await power.SettleAsync(TimeSpan.FromSeconds(30));
        await TerminateAsync(array);
        SqlitePersistence.ReleaseDatabase(databasePath);
    }

    /// <summary>
    /// Stops the array's ActorSystem outright, without the array's stop protocol (no drain, no
    /// flush, no clean flag). Raid5Array owns its system and offers only the clean stop, so the
    /// system is reached through the array actor's cell. Idempotent.
    /// </summary>
    public static Task TerminateAsync(Raid5Array array) => ((ActorRefWithCell)array.Actor).Underlying.System.Terminate();

    private async Task CheckResyncAsync(Raid5Array array, ArrayMetadata metadata, bool clean, int[] durableBits, List<string> failures)
    {
        var expectedRows = durableBits.Sum(bit => RowsOfBit(metadata, bit));
        var idle = await array.WaitForSyncAsync(kSyncTimeout);
        if (clean)
        {
            // The crash came before the first write was allowed out (the array still recorded clean): nothing to resync.
            if (idle.Last is not null)
                failures.Add($"the array was recorded clean, yet a sync ran at the reopen: {idle.Last}");
            return;
        }
        if (idle.Last is null)
        {
            // WaitForSync answered before the array had started the resync it owes: note it, then
            // wait for that resync through the status so the rest of the round still means something.
            failures.Add("WaitForSyncAsync right after OpenAsync answered idle (no sync yet) although the array was not stopped cleanly and owes a resync");
            idle = await SyncIdleByStatusAsync(array);
        }
        if (idle.Last is not { Kind: SyncKind.Resync } last)
        {
            failures.Add($"no resync ran at the reopen (last sync: {idle.Last?.ToString() ?? "none"}; {idle.LastFailure})");
            return;
        }
        if (idle.LastFailure is not null || last.TotalRows != expectedRows || last.DoneRows != last.TotalRows)
            failures.Add($"resync of {expectedRows} rows (durable bits [{string.Join(",", durableBits)}]) expected, got {last} ({idle.LastFailure ?? "no failure"})");
    }

    private static async Task<ArrayProtocol.SyncIdle> SyncIdleByStatusAsync(Raid5Array array)
    {
        var deadline = DateTime.UtcNow + kSyncTimeout;
        while (true)
        {
            var status = await array.GetStatusAsync();
            if ((status.Sync is null && status.LastSync is not null) || DateTime.UtcNow > deadline)
                return new ArrayProtocol.SyncIdle(status.LastSync, status.LastSyncFailure);
            await Task.Delay(10);
        }
    }

    private static async Task<byte[]> ReadAllAsync(Raid5Array array)
    {
        var all = new byte[array.CapacityBytes];
        const int kStep = 256 << 10;
        for (long offset = 0; offset < all.Length; offset += kStep)
            await array.ReadAsync(offset, all.AsMemory((int)offset, (int)Math.Min(kStep, all.Length - offset)));
        return all;
    }

    private List<long> InconsistentRows(ArrayMetadata metadata) => InconsistentRows(_disks, metadata);

    /// <summary>Rows whose parity is not the XOR of their data, on the platters (what survived, caches excluded).</summary>
    public static List<long> InconsistentRows(SimulatedMemberStoreProvider disks, ArrayMetadata metadata)
    {
        var areas = new byte[metadata.MemberCount][];
        for (var role = 0; role < metadata.MemberCount; role++)
            areas[role] = disks.RawPlatter(role).AsSpan((int)metadata.DataOffsetBytes, (int)metadata.MemberDataBytes).ToArray();
        return MemberImage.InconsistentRows(metadata.Geometry, areas);
    }

    /// <summary>Bit b covers member bytes [b * bitmap chunk, (b + 1) * bitmap chunk); row r is member bytes [r * chunk, (r + 1) * chunk).</summary>
    public static int BitOf(ArrayMetadata metadata, long row) => (int)(row * metadata.ChunkBytes / metadata.BitmapChunkBytes);

    private static long RowsOfBit(ArrayMetadata metadata, int bit)
    {
        var rowsPerBit = metadata.BitmapChunkBytes / metadata.ChunkBytes;
        return Math.Max(0, Math.Min(rowsPerBit, metadata.Geometry.RowCount - bit * rowsPerBit));
    }

    public static string History(RecoveredBitmap bitmap) =>
        (bitmap.SnapshotSequenceNr is { } at ? $"snapshot @{at} [{string.Join(",", bitmap.SnapshotBits)}], then " : "")
        + (bitmap.Replayed.Count == 0 ? "no events" : string.Join(" | ", bitmap.Replayed.Select(JournalGate.Describe)));

    private static string Describe(PowerLossReport report) =>
        $"{report.Disk} {report.UnflushedWrites} unflushed: {report.KeptWhole} kept, {report.KeptTorn} torn, {report.Dropped} dropped";

    private void Report(CrashPointResult result, CrashLedger ledger, Phases phases)
    {
        output.WriteLine(
            $"  crash point {result.Round} (seed {options.Seed}): {result.CrashPoint}; {ledger.Summary()}; "
            + $"durable bits [{string.Join(",", result.DurableBits)}], inconsistent rows [{string.Join(",", result.InconsistentRows)}]; {phases}");
        foreach (var failure in result.Failures)
            output.WriteLine($"    FAILED: {failure}");
    }
}
