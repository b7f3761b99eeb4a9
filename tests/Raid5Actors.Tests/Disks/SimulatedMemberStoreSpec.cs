using System.Diagnostics;
using Raid5Actors.Disks;
using Xunit.Abstractions;

namespace Raid5Actors.Tests.Disks;

/// <summary>
/// The simulated disk at the byte level: cache over platter, what flush and power loss keep, and
/// that every injected fault fails exactly what it was told to, with an IOException naming it.
/// </summary>
public sealed class SimulatedMemberStoreSpec(ITestOutputHelper output)
{
    private const int kSector = SimulatedDisk.kSectorBytes;
    private const long kDiskBytes = 64 * 1024;

    [Fact]
    public void A_read_sees_unflushed_writes_over_the_platter_latest_first()
    {
        var disk = new SimulatedDisk("sim:t", kDiskBytes);
        using var store = new SimulatedMemberStore(disk);
        store.Write(1000, Fill(3000, 0x11));
        store.Write(2000, Fill(100, 0x22));

        var read = new byte[4000];
        store.Read(0, read);

        var expected = new byte[4000];
        Fill(3000, 0x11).CopyTo(expected, 1000);
        Fill(100, 0x22).CopyTo(expected, 2000);
        Assert.Equal(expected, read);
        Assert.All(disk.Platter, b => Assert.Equal(0, b));
        Assert.Equal(2, disk.PendingWrites);
    }

    [Fact]
    public void Flushed_writes_survive_a_power_loss_that_drops_everything()
    {
        var provider = new SimulatedMemberStoreProvider();
        using var store = provider.Create(0, kDiskBytes);
        store.Write(4096, Fill(4096, 0xAB));
        store.Flush();

        var report = provider.LosePowerAll(new Random(1), PowerLossMode.DropAll);
        output.WriteLine(string.Join(Environment.NewLine, report));

        Assert.Equal(Fill(4096, 0xAB), provider.RawPlatter(0).AsSpan(4096, 4096).ToArray());
        var read = new byte[4096];
        store.Read(4096, read);
        Assert.Equal(Fill(4096, 0xAB), read);
    }

    [Fact]
    public void Power_loss_dropping_everything_leaves_exactly_the_flushed_state()
    {
        var disk = new SimulatedDisk("sim:t", kDiskBytes);
        using var store = new SimulatedMemberStore(disk);
        var random = new Random(7);
        for (var i = 0; i < 20; i++)
            store.Write(random.Next(0, (int)kDiskBytes - 1024), RandomBytes(random, random.Next(1, 1024)));
        store.Flush();
        var flushed = disk.Platter.ToArray();
        for (var i = 0; i < 20; i++)
            store.Write(random.Next(0, (int)kDiskBytes - 1024), RandomBytes(random, random.Next(1, 1024)));

        var report = disk.LosePower(new Random(1), PowerLossMode.DropAll);
        output.WriteLine(report.ToString());

        Assert.Equal(20, report.Dropped);
        Assert.Equal(0, disk.PendingWrites);
        Assert.Equal(flushed, disk.Platter);
        var read = new byte[kDiskBytes];
        store.Read(0, read);
        Assert.Equal(flushed, read);
    }

    [Fact]
    public void Power_loss_keeping_everything_applies_every_write_in_order()
    {
        var disk = new SimulatedDisk("sim:t", kDiskBytes);
        using var store = new SimulatedMemberStore(disk);
        store.Write(0, Fill(1024, 1));
        store.Write(512, Fill(1024, 2));
        var before = new byte[kDiskBytes];
        store.Read(0, before);

        disk.LosePower(new Random(1), PowerLossMode.KeepAll);

        Assert.Equal(before, disk.Platter);
    }

    [Fact]
    public void A_random_subset_power_loss_leaves_each_sector_old_or_written_never_garbage_and_both_happen()
    {
        // Four overlapping, unaligned writes over sectors 0..7; each sector may end up holding its old
        // value or any value written to it, and across seeds both "old" and "new" must occur.
        var writes = new (long Offset, byte Value, int Length)[]
        {
            (0, 0x10, 8 * kSector), (700, 0x20, 5 * kSector), (kSector, 0x30, 2 * kSector + 100), (3 * kSector + 7, 0x40, 10),
        };
        var sawOld = false;
        var sawNew = false;
        var sawTorn = false;
        var masterSeed = Environment.TickCount;
        output.WriteLine($"master seed {masterSeed}");
        var seeds = new Random(masterSeed);
        var allowedAt = Enumerable.Range(0, 16 * kSector)
            .Select(b => writes.Where(w => b >= w.Offset && b < w.Offset + w.Length).Select(w => w.Value).Append((byte)0xEE).ToHashSet())
            .ToArray();
        var pieces = PiecesOf(writes).ToArray();
        for (var run = 0; run < 200; run++)
        {
            var seed = seeds.Next();
            var disk = new SimulatedDisk("sim:t", 16 * kSector);
            disk.Platter.AsSpan().Fill(0xEE);
            using var store = new SimulatedMemberStore(disk);
            foreach (var (offset, value, length) in writes)
                store.Write(offset, Fill(length, value));

            var report = disk.LosePower(new Random(seed), PowerLossMode.KeepRandomSubset);
            sawTorn |= report.KeptTorn > 0;

            for (var b = 0; b < disk.Platter.Length; b++)
            {
                if (!allowedAt[b].Contains(disk.Platter[b]))
                    Assert.Fail($"seed {seed}: byte {b} = {disk.Platter[b]:X2} was never written there ({report})");
            }
            // Sector pieces land atomically: within one piece of one write, bytes never mix.
            foreach (var piece in pieces)
            {
                var bytes = disk.Platter.AsSpan((int)piece.Offset, piece.Length);
                if (bytes.IndexOfAnyExcept(bytes[0]) >= 0)
                    Assert.Fail($"seed {seed}: piece [{piece.Offset}, +{piece.Length}) is mixed ({report})");
            }
            sawOld |= disk.Platter.AsSpan(0, 8 * kSector).Contains((byte)0xEE);
            sawNew |= disk.Platter.AsSpan(0, 8 * kSector).IndexOfAnyExcept((byte)0xEE) >= 0;
        }
        Assert.True(sawOld, "no seed lost an unflushed write");
        Assert.True(sawNew, "no seed kept an unflushed write");
        Assert.True(sawTorn, "no seed tore a write");
    }

    [Fact]
    public void A_random_subset_power_loss_can_keep_a_later_write_and_drop_an_earlier_overlapping_one()
    {
        var sawOnlyLater = false;
        var sawEarlierOnTop = false;
        for (var seed = 0; seed < 200 && !(sawOnlyLater && sawEarlierOnTop); seed++)
        {
            var disk = new SimulatedDisk("sim:t", kSector);
            using var store = new SimulatedMemberStore(disk);
            store.Write(0, Fill(kSector, 1));
            store.Write(0, Fill(kSector, 2));
            var report = disk.LosePower(new Random(seed), PowerLossMode.KeepRandomSubset);
            sawOnlyLater |= disk.Platter[0] == 2 && report.Dropped == 1;
            sawEarlierOnTop |= disk.Platter[0] == 1 && report.KeptWhole == 2;
        }
        Assert.True(sawOnlyLater, "the later write never survived alone");
        Assert.True(sawEarlierOnTop, "the earlier write never landed after the later one");
    }

    [Fact]
    public void A_failed_read_range_fails_only_reads_that_overlap_it()
    {
        var disk = new SimulatedDisk("sim:3", kDiskBytes);
        using var store = new SimulatedMemberStore(disk);
        disk.FailReads(8192, 4096);
        var buffer = new byte[4096];

        store.Read(4096, buffer);
        store.Read(12288, buffer);
        store.Write(8192, buffer);
        var e = Assert.Throws<IOException>(() => store.Read(8192 + 4095, new byte[1]));
        Assert.Contains("sim:3", e.Message);
        Assert.Contains("read at offset 12287", e.Message);
        Assert.Throws<IOException>(() => store.Read(4097, buffer));

        disk.ClearFaults();
        store.Read(8192, buffer);
    }

    [Fact]
    public void A_failed_write_range_fails_only_writes_that_overlap_it_and_keeps_the_old_bytes()
    {
        var disk = new SimulatedDisk("sim:1", kDiskBytes);
        using var store = new SimulatedMemberStore(disk);
        disk.FailWrites(0, kSector);

        var e = Assert.Throws<IOException>(() => store.Write(kSector - 1, Fill(2, 9)));
        Assert.Contains("sim:1: write at offset 511", e.Message);
        store.Write(kSector, Fill(kSector, 7));
        var read = new byte[2 * kSector];
        store.Read(0, read);

        Assert.Equal(new byte[kSector].Concat(Fill(kSector, 7)), read);
    }

    [Fact]
    public void Reads_and_writes_fail_after_the_configured_number_of_operations()
    {
        var disk = new SimulatedDisk("sim:0", kDiskBytes);
        using var store = new SimulatedMemberStore(disk);
        var buffer = new byte[16];
        store.Read(0, buffer);
        disk.FailReadsAfter(2);
        disk.FailWritesAfter(1);

        store.Read(0, buffer);
        store.Read(16, buffer);
        var read = Assert.Throws<IOException>(() => store.Read(32, buffer));
        Assert.Contains("sim:0: read at offset 32", read.Message);
        Assert.Throws<IOException>(() => store.Read(0, buffer));

        store.Write(0, buffer);
        var write = Assert.Throws<IOException>(() => store.Write(64, buffer));
        Assert.Contains("sim:0: write at offset 64", write.Message);
        Assert.Equal(1, disk.PendingWrites);
        Assert.Equal(5, disk.ReadCount);
        Assert.Equal(2, disk.WriteCount);
    }

    [Fact]
    public void A_failed_flush_throws_and_keeps_the_cache_unflushed()
    {
        var disk = new SimulatedDisk("sim:2", kDiskBytes);
        using var store = new SimulatedMemberStore(disk);
        store.Write(0, Fill(kSector, 5));
        disk.FailFlushes();

        var e = Assert.Throws<IOException>(store.Flush);
        Assert.Contains("sim:2: flush", e.Message);
        disk.LosePower(new Random(1), PowerLossMode.DropAll);

        Assert.All(disk.Platter, b => Assert.Equal(0, b));
    }

    [Fact]
    public void Latency_delays_every_operation()
    {
        var disk = new SimulatedDisk("sim:t", kDiskBytes);
        using var store = new SimulatedMemberStore(disk);
        disk.SetLatency(TimeSpan.FromMilliseconds(20));

        var clock = Stopwatch.StartNew();
        store.Write(0, Fill(16, 1));
        store.Read(0, new byte[16]);
        store.Flush();

        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(60), $"three operations took only {clock.Elapsed}");
    }

    [Fact]
    public void A_dead_disk_fails_every_operation_and_keeps_its_bytes()
    {
        var disk = new SimulatedDisk("sim:4", kDiskBytes);
        using var store = new SimulatedMemberStore(disk);
        store.Write(0, Fill(16, 3));
        store.Flush();
        disk.Kill();

        Assert.Contains("sim:4: read at offset 0", Assert.Throws<IOException>(() => store.Read(0, new byte[16])).Message);
        Assert.Contains("sim:4: write at offset 8", Assert.Throws<IOException>(() => store.Write(8, new byte[16])).Message);
        Assert.Contains("sim:4: flush", Assert.Throws<IOException>(store.Flush).Message);

        disk.Revive();
        var read = new byte[16];
        store.Read(0, read);
        Assert.Equal(Fill(16, 3), read);
    }

    [Fact]
    public void A_removed_disk_is_missing_for_open_and_dead_for_open_stores()
    {
        var provider = new SimulatedMemberStoreProvider();
        using var store = provider.Create(2, kDiskBytes);
        Assert.Throws<Raid5MemberException>(() => provider.Create(2, kDiskBytes));

        var disk = provider.Remove(2);

        Assert.False(provider.Exists(2));
        Assert.Contains("missing", Assert.Throws<Raid5MemberException>(() => provider.Open(2)).Message);
        Assert.Throws<IOException>(() => store.Read(0, new byte[1]));

        provider.Insert(2, disk);
        using var reopened = provider.Open(2);
        reopened.Read(0, new byte[1]);
    }

    [Fact]
    public void A_full_cache_writes_its_oldest_writes_back_to_the_platter()
    {
        var disk = new SimulatedDisk("sim:t", kDiskBytes, cacheLimitBytes: 2 * kSector);
        using var store = new SimulatedMemberStore(disk);
        store.Write(0, Fill(kSector, 1));
        store.Write(kSector, Fill(kSector, 2));
        store.Write(2 * kSector, Fill(kSector, 3));

        disk.LosePower(new Random(1), PowerLossMode.DropAll);

        Assert.Equal(Fill(kSector, 1).Concat(new byte[2 * kSector]), disk.Platter.AsSpan(0, 3 * kSector).ToArray());
    }

    private static IEnumerable<(long Offset, int Length)> PiecesOf(IEnumerable<(long Offset, byte Value, int Length)> writes)
    {
        // The finest cut: every write boundary and every sector boundary.
        var cuts = writes.SelectMany(w => new[] { w.Offset, w.Offset + w.Length })
            .Concat(Enumerable.Range(0, 17).Select(i => (long)i * kSector)).Distinct().Order().ToArray();
        for (var i = 0; i + 1 < cuts.Length; i++)
            yield return (cuts[i], (int)(cuts[i + 1] - cuts[i]));
    }

    private static byte[] Fill(int length, byte value) => Enumerable.Repeat(value, length).ToArray();

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }
}
