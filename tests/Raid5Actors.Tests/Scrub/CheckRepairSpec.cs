using Raid5Actors.Arrays;
using Raid5Actors.Disks;
using Raid5Actors.Geometry;
using Raid5Actors.Stripes;
using Raid5Actors.Sync;
using Raid5Actors.Tests.Arrays;
using Raid5Actors.Tests.Model;
using Xunit.Abstractions;

namespace Raid5Actors.Tests.Scrub;

/// <summary>Where the members of a scrubbed array live.</summary>
public enum ScrubbedMembers
{
    Memory,

    /// <summary>Simulated disks: their write counters show that a check writes nothing at all.</summary>
    Simulated,
}

/// <summary>
/// Check and repair (md's sync_action "check" / "repair") against corruption put straight onto the
/// members: a check counts exactly the rows whose parity is not the XOR of their data and writes
/// nothing; a repair counts them again and rewrites their parity chunk and nothing else; a second
/// check then finds none. With a corrupted data chunk, repair trusts the data, as md does: parity
/// is recomputed from it, and the device reads back the corrupted bytes.
/// </summary>
public sealed class CheckRepairSpec(ITestOutputHelper output) : IDisposable
{
    private const int kMembers = 4;
    private const int kChunkBytes = 16 * 1024;
    private const int kRows = 64;
    private const int kCorruptedRows = 3;
    private static readonly TimeSpan kSyncTimeout = TimeSpan.FromSeconds(30);

    private readonly string _folder = TestArrays.NewFolder("scrub");

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Theory]
    [InlineData(ScrubbedMembers.Memory)]
    [InlineData(ScrubbedMembers.Simulated)]
    public async Task Check_counts_corrupted_parity_rows_and_writes_nothing_then_repair_restores_exactly_those_chunks(ScrubbedMembers kind)
    {
        var seed = TestArrays.Seed(output, $"parity corruption, {kind} members");
        var members = new ScrubbedMemberSet(kind);
        await using var array = await CreateFilledAsync(members, seed);
        var geometry = array.Geometry;
        var dataOffset = array.Metadata.DataOffsetBytes;
        var random = new Random(seed);
        var pristine = members.Snapshot(kMembers);

        var rows = PickRows(random, kCorruptedRows);
        foreach (var row in rows)
            Corrupt(members, random, geometry.ParityMember(row), dataOffset + row * kChunkBytes, $"parity of row {row}");
        var corrupted = members.Snapshot(kMembers);
        Assert.Equal(rows.Order(), MemberImage.InconsistentRows(geometry, DataAreas(corrupted, dataOffset)));

        // Check: counts every corrupted row, changes not a byte and issues not a single member write.
        var writesBefore = members.WriteCounts(kMembers);
        var check = await RunSyncAsync(array, SyncKind.Check);
        Assert.Equal(kCorruptedRows, check.Mismatches);
        Assert.Equal(writesBefore, members.WriteCounts(kMembers));
        AssertSameBytes(corrupted, members.Snapshot(kMembers), "after check");

        // Repair: counts them again and rewrites exactly their parity chunks, back to the pristine bytes.
        var repair = await RunSyncAsync(array, SyncKind.Repair);
        Assert.Equal(kCorruptedRows, repair.Mismatches);
        await array.FlushAsync(); // simulated disks: move the written parity from the cache to the platter
        var repaired = members.Snapshot(kMembers);
        var changed = ChangedChunks(corrupted, repaired, dataOffset);
        Assert.Equal(rows.Select(r => (geometry.ParityMember(r), r)).Order(), changed);
        AssertSameBytes(pristine, repaired, "after repair (compared with the members before corruption)");
        Assert.Empty(MemberImage.InconsistentRows(geometry, DataAreas(repaired, dataOffset)));

        var again = await RunSyncAsync(array, SyncKind.Check);
        Assert.Equal(0, again.Mismatches);
        AssertSameBytes(repaired, members.Snapshot(kMembers), "after the second check");
    }

    [Theory]
    [InlineData(ScrubbedMembers.Memory)]
    [InlineData(ScrubbedMembers.Simulated)]
    public async Task Repair_of_a_corrupted_data_chunk_recomputes_parity_from_the_data_as_md_does(ScrubbedMembers kind)
    {
        var seed = TestArrays.Seed(output, $"data corruption, {kind} members");
        var members = new ScrubbedMemberSet(kind);
        var expected = default(ExpectedDevice);
        await using var array = await CreateFilledAsync(members, seed, device => expected = device);
        var geometry = array.Geometry;
        var dataOffset = array.Metadata.DataOffsetBytes;
        var random = new Random(seed);

        var row = PickRows(random, 1)[0];
        var dataIndex = random.Next(geometry.DataMembers);
        var dataMember = geometry.DataMember(row, dataIndex);
        var parityMember = geometry.ParityMember(row);
        Corrupt(members, random, dataMember, dataOffset + row * kChunkBytes, $"data chunk {dataIndex} of row {row} (member {dataMember})");
        var corrupted = members.Snapshot(kMembers);

        var writesBefore = members.WriteCounts(kMembers);
        var check = await RunSyncAsync(array, SyncKind.Check);
        Assert.Equal(1, check.Mismatches);
        Assert.Equal(writesBefore, members.WriteCounts(kMembers));
        AssertSameBytes(corrupted, members.Snapshot(kMembers), "after check");

        var repair = await RunSyncAsync(array, SyncKind.Repair);
        Assert.Equal(1, repair.Mismatches);
        await array.FlushAsync();
        var repaired = members.Snapshot(kMembers);
        // Only the parity chunk changed: the corrupted data is kept and parity now matches it.
        Assert.Equal([(parityMember, row)], ChangedChunks(corrupted, repaired, dataOffset));
        Assert.Empty(MemberImage.InconsistentRows(geometry, DataAreas(repaired, dataOffset)));

        // The device now reads the corrupted data: repair does not know which chunk was wrong.
        var chunkStart = geometry.LogicalOffset(row, dataIndex, 0);
        var corruptedChunk = corrupted[dataMember].AsSpan((int)(dataOffset + row * kChunkBytes), kChunkBytes).ToArray();
        var read = new byte[kChunkBytes];
        await array.ReadAsync(chunkStart, read);
        Assert.Equal(corruptedChunk, read);
        Assert.NotEqual(expected!.Slice(chunkStart, kChunkBytes).ToArray(), read);

        var again = await RunSyncAsync(array, SyncKind.Check);
        Assert.Equal(0, again.Mismatches);
    }

    private async Task<Raid5Array> CreateFilledAsync(ScrubbedMemberSet members, int seed, Action<ExpectedDevice>? keep = null)
    {
        var layouts = Enum.GetValues<Raid5Layout>();
        var layout = layouts[(int)((uint)seed % (uint)layouts.Length)];
        output.WriteLine($"layout {layout}, {kMembers} members, chunk {kChunkBytes} bytes, {kRows} rows");
        var create = new Raid5CreateOptions(kMembers, MemberSuperblock.kDefaultDataOffsetBytes + (long)kRows * kChunkBytes, kChunkBytes, layout);
        var array = await Raid5Array.CreateAsync(_folder, create, new Raid5ArrayOptions { Members = members.Provider, Config = TestArrays.Config() });
        var expected = new ExpectedDevice(array.CapacityBytes, seed);
        var rowBytes = (int)array.Geometry.RowDataBytes;
        var writes = new List<Task>();
        for (long offset = 0; offset < array.CapacityBytes; offset += rowBytes)
            writes.Add(expected.WriteAsync(array, offset, rowBytes));
        await Task.WhenAll(writes);
        await array.FlushAsync();
        await expected.AssertReadsBackAsync(array);
        keep?.Invoke(expected);
        return array;
    }

    private async Task<SyncStatus> RunSyncAsync(Raid5Array array, SyncKind kind)
    {
        var started = await array.StartSyncAsync(kind);
        Assert.Equal(kind, started.Kind);
        var idle = await array.WaitForSyncAsync(kSyncTimeout);
        Assert.Null(idle.LastFailure);
        var last = Assert.IsType<SyncStatus>(idle.Last);
        output.WriteLine(last.ToString());
        Assert.Equal(kind, last.Kind);
        Assert.Equal(kRows, last.DoneRows);
        Assert.Equal(kRows, last.TotalRows);
        return last;
    }

    private static List<long> PickRows(Random random, int count)
    {
        var rows = new SortedSet<long>();
        while (rows.Count < count)
            rows.Add(random.Next(kRows));
        return rows.ToList();
    }

    /// <summary>Flips bits in one random sector of the chunk at raw offset <paramref name="chunkOffset"/>.</summary>
    private void Corrupt(ScrubbedMemberSet members, Random random, int role, long chunkOffset, string what)
    {
        var sector = random.Next(kChunkBytes / ArrayGeometry.kSectorBytes);
        var at = (int)chunkOffset + sector * ArrayGeometry.kSectorBytes;
        var raw = members.Raw(role);
        for (var i = 0; i < ArrayGeometry.kSectorBytes; i++)
            raw[at + i] ^= (byte)(random.Next(256) | 1);
        output.WriteLine($"corrupted {what}: sector {sector} of member {role}");
    }

    private static byte[][] DataAreas(byte[][] raw, long dataOffset) =>
        raw.Select(r => r.AsSpan((int)dataOffset, kRows * kChunkBytes).ToArray()).ToArray();

    /// <summary>(member, row) of every data-area chunk that differs; any change outside the data area fails.</summary>
    private static List<(int Member, long Row)> ChangedChunks(byte[][] before, byte[][] after, long dataOffset)
    {
        var changed = new List<(int, long)>();
        for (var role = 0; role < before.Length; role++)
        {
            Assert.True(before[role].AsSpan(0, (int)dataOffset).SequenceEqual(after[role].AsSpan(0, (int)dataOffset)), $"member {role}: superblock area changed");
            for (long row = 0; row < kRows; row++)
            {
                var at = (int)(dataOffset + row * kChunkBytes);
                if (!before[role].AsSpan(at, kChunkBytes).SequenceEqual(after[role].AsSpan(at, kChunkBytes)))
                    changed.Add((role, row));
            }
        }
        return changed.Order().ToList();
    }

    private static void AssertSameBytes(byte[][] expected, byte[][] actual, string when)
    {
        for (var role = 0; role < expected.Length; role++)
        {
            var same = expected[role].AsSpan().CommonPrefixLength(actual[role]);
            if (same < expected[role].Length)
                Assert.Fail($"{when}: member {role} differs first at raw byte {same}");
        }
    }

    /// <summary>The member stores of one array, with raw (live) access to their durable bytes.</summary>
    private sealed class ScrubbedMemberSet
    {
        private readonly MemoryMemberStoreProvider? _memory;
        private readonly SimulatedMemberStoreProvider? _simulated;

        public ScrubbedMemberSet(ScrubbedMembers kind)
        {
            if (kind == ScrubbedMembers.Memory)
                _memory = new MemoryMemberStoreProvider();
            else
                _simulated = new SimulatedMemberStoreProvider();
        }

        public IMemberStoreProvider Provider => _memory ?? (IMemberStoreProvider)_simulated!;

        /// <summary>The live bytes: memory, or a simulated disk's platter (complete after a flush).</summary>
        public byte[] Raw(int role) => _memory?.RawBytes(role) ?? _simulated!.RawPlatter(role);

        public byte[][] Snapshot(int count) => Enumerable.Range(0, count).Select(r => Raw(r).ToArray()).ToArray();

        /// <summary>Writes each member has had (simulated disks count them; memory members report none).</summary>
        public long[] WriteCounts(int count) => Enumerable.Range(0, count).Select(r => _simulated?.Disk(r).WriteCount ?? 0).ToArray();
    }
}
