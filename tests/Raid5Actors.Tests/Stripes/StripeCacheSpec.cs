using Akka.Configuration;
using Raid5Actors.Arrays;
using Raid5Actors.Disks;
using Raid5Actors.Tests.Model;
using Xunit.Abstractions;

namespace Raid5Actors.Tests.Stripes;

/// <summary>
/// A full stripe cache queues writes (back-pressure): it never drops them, never holds more
/// stripes than its size, and releases them in order as stripes free up.
/// </summary>
public sealed class StripeCacheSpec(ITestOutputHelper output) : IDisposable
{
    private readonly string _folder = TestArrays.NewFolder("cache");

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public async Task Writes_beyond_the_cache_size_wait_in_order_and_all_complete()
    {
        var gate = new GatedMemoryProvider();
        var config = ConfigurationFactory.ParseString("raid5.stripe-cache-size = 2").WithFallback(TestArrays.Config());
        await using var array = await Raid5Array.CreateAsync(
            _folder, new Raid5CreateOptions(3, (1 << 20) + 64 * 4096, ChunkBytes: 4096),
            new Raid5ArrayOptions { Members = gate, Config = config });
        var rowBytes = array.Geometry.RowDataBytes;

        gate.Close();
        // Ten rows, and a second write to row 9 that must land after the first one.
        var writes = new List<Task>();
        for (var row = 0; row < 10; row++)
            writes.Add(array.WriteAsync(row * rowBytes, Pattern(row, (int)rowBytes)));
        writes.Add(array.WriteAsync(9 * rowBytes, Pattern(99, (int)rowBytes)));

        await AwaitStatus(array, s => s is { StripeCacheActive: 2, QueuedWrites: 9 });
        Assert.All(writes, w => Assert.False(w.IsCompleted));

        gate.Open();
        await Task.WhenAll(writes);
        var status = await array.GetStatusAsync();
        output.WriteLine(status.ToString());
        Assert.True(status.StripeCacheActive <= 2, $"cache grew to {status.StripeCacheActive}");
        Assert.Equal(0, status.QueuedWrites);

        var buffer = new byte[rowBytes];
        for (var row = 0; row < 9; row++)
        {
            await array.ReadAsync(row * rowBytes, buffer);
            Assert.Equal(Pattern(row, (int)rowBytes), buffer);
        }
        await array.ReadAsync(9 * rowBytes, buffer);
        Assert.Equal(Pattern(99, (int)rowBytes), buffer);
    }

    private static byte[] Pattern(int seed, int length)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static async Task AwaitStatus(Raid5Array array, Func<ArrayStatus, bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        var status = await array.GetStatusAsync();
        while (!condition(status) && DateTime.UtcNow < deadline)
        {
            await Task.Yield();
            status = await array.GetStatusAsync();
        }
        Assert.True(condition(status), $"status never reached the expected state: {status}");
    }

    /// <summary>Memory members whose data writes block while the gate is closed (superblocks pass).</summary>
    private sealed class GatedMemoryProvider : IMemberStoreProvider
    {
        private readonly MemoryMemberStoreProvider _inner = new();
        private readonly ManualResetEventSlim _open = new(initialState: true);

        public void Close() => _open.Reset();

        public void Open() => _open.Set();

        public string Describe(int role) => _inner.Describe(role);

        public bool Exists(int role) => _inner.Exists(role);

        public IMemberStore Create(int role, long lengthBytes) => new GatedStore(_inner.Create(role, lengthBytes), _open);

        public IMemberStore Open(int role) => new GatedStore(_inner.Open(role), _open);
    }

    private sealed class GatedStore(IMemberStore inner, ManualResetEventSlim open) : IMemberStore
    {
        public string Name => inner.Name;

        public long LengthBytes => inner.LengthBytes;

        public void Read(long offsetBytes, Span<byte> destination) => inner.Read(offsetBytes, destination);

        public void Write(long offsetBytes, ReadOnlySpan<byte> source)
        {
            // Blocking is fine here: each member actor has its own thread.
            if (offsetBytes >= MemberSuperblock.kSuperblockBytes && !open.Wait(TimeSpan.FromSeconds(30)))
                throw new IOException("test gate never opened");
            inner.Write(offsetBytes, source);
        }

        public void Flush() => inner.Flush();

        public void Dispose() => inner.Dispose();
    }
}
