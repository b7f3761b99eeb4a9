using System.Collections.Concurrent;
using System.Net.Sockets;
using Raid5Actors.Disks;
using Raid5Actors.Nbd;
using Xunit.Abstractions;
using static Raid5Actors.Tests.Nbd.NbdTestClient;

namespace Raid5Actors.Tests.Nbd;

/// <summary>
/// The transmission phase driven by the spec's own client: bad requests are refused with the error
/// proto.md asks for and the connection stays usable; many requests run at once and are answered
/// by handle; a client that breaks the protocol or vanishes loses its connection, never the
/// server's health or an acknowledged write.
/// </summary>
public sealed class NbdTransmissionSpec(ITestOutputHelper output)
{
    private const int kKiB = 1 << 10;
    private const int kMiB = 1 << 20;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_out_of_range_read_gets_EINVAL_and_the_next_request_on_the_same_connection_succeeds(bool structured)
    {
        await using var served = await ServedArray.StartAsync(output);
        await using var client = await NbdTestClient.OpenAsync(served.Port, structured: structured);
        var end = (ulong)served.CapacityBytes;
        var data = TestData.Bytes(TestData.NewRandom(output), 64 * kKiB);
        Assert.Equal(0u, (await client.WriteAsync(handle: 1, offset: end - 64 * kKiB, data)).Error);

        foreach (var (offset, length) in new (ulong, uint)[] { (end, 512), (end - 512, 1024), (ulong.MaxValue - 511, 512), (end + 4096, 4096) })
        {
            var refused = await client.ReadAsync(handle: 2, offset, length);
            Assert.Equal(EINVAL, refused.Error);
            Assert.Empty(refused.Data);
            Assert.Equal(structured, refused.Structured);
            if (structured)
                Assert.Contains("beyond the end", refused.Message);
        }

        var read = await client.ReadAsync(handle: 3, offset: end - 64 * kKiB, length: 64 * kKiB);
        Assert.Equal(0u, read.Error);
        Assert.Equal(data, read.Data);
        if (structured)
            Assert.Equal(end - 64 * kKiB, read.ChunkOffset);
        var empty = await client.ReadAsync(handle: 4, offset: 0, length: 0);
        Assert.Equal((0u, 0), (empty.Error, empty.Data.Length));
    }

    [Fact]
    public async Task Unaligned_and_oversized_requests_get_EINVAL_writes_past_the_end_ENOSPC_and_their_payload_is_stepped_over()
    {
        await using var served = await ServedArray.StartAsync(output);
        await using var client = await NbdTestClient.OpenAsync(served.Port);
        var random = TestData.NewRandom(output);
        var end = (ulong)served.CapacityBytes;

        Assert.Equal(EINVAL, (await client.ReadAsync(handle: 1, offset: 100, length: 512)).Error);
        Assert.Equal(EINVAL, (await client.ReadAsync(handle: 2, offset: 0, length: 1000)).Error);
        Assert.Equal(EINVAL, (await client.ReadAsync(handle: 3, offset: 0, length: 32 * kMiB + 512)).Error);
        // A refused write's payload must be read past, or the next request would be parsed from the middle of it.
        Assert.Equal(EINVAL, (await client.WriteAsync(handle: 4, offset: 512, TestData.Bytes(random, 1000))).Error);
        Assert.Equal(EINVAL, (await client.WriteAsync(handle: 5, offset: 100, TestData.Bytes(random, 4096))).Error);
        Assert.Equal(ENOSPC, (await client.WriteAsync(handle: 6, offset: end - 512, TestData.Bytes(random, 4096))).Error);
        Assert.Equal(ENOSPC, (await client.CommandAsync(kCmdWriteZeroes, handle: 7, offset: end, length: 512)).Error);
        Assert.Equal(ENOSPC, (await client.CommandAsync(kCmdTrim, handle: 8, offset: end - 512, length: 1024)).Error);

        var data = TestData.Bytes(random, 12 * kKiB);
        Assert.Equal(0u, (await client.WriteAsync(handle: 9, offset: 4096, data)).Error);
        Assert.Equal(data, (await client.ReadAsync(handle: 10, offset: 4096, length: 12 * kKiB)).Data);
        Assert.Equal(new byte[512], (await client.ReadAsync(handle: 11, offset: end - 512, length: 512)).Data);
    }

    [Fact]
    public async Task Unknown_commands_and_flags_get_EINVAL_and_the_connection_stays_usable()
    {
        await using var served = await ServedArray.StartAsync(output);
        await using var client = await NbdTestClient.OpenAsync(served.Port);

        foreach (var command in new ushort[] { kCmdCache, kCmdBlockStatus, 99 })
            Assert.Equal(EINVAL, (await client.CommandAsync(command, handle: command, offset: 0, length: 4096)).Error);
        Assert.Equal(EINVAL, (await client.ReadAsync(handle: 20, offset: 0, length: 4096, flags: kCmdFlagDf)).Error);
        Assert.Equal(EINVAL, (await client.CommandAsync(kCmdWriteZeroes, handle: 21, offset: 0, length: 4096, flags: kCmdFlagFastZero)).Error);
        Assert.Equal(EINVAL, (await client.WriteAsync(handle: 22, offset: 0, new byte[4096], flags: kCmdFlagNoHole)).Error);
        // FUA is accepted on every command, as proto.md requires of a server that offers it.
        Assert.Equal(0u, (await client.ReadAsync(handle: 23, offset: 0, length: 4096, flags: kCmdFlagFua)).Error);
        Assert.Equal(0u, (await client.CommandAsync(kCmdFlush, handle: 24, flags: kCmdFlagFua)).Error);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_request_the_array_fails_gets_EIO_and_the_connection_stays_usable(bool structured)
    {
        var disks = new SimulatedMemberStoreProvider();
        await using var served = await ServedArray.StartAsync(output, memberDataBytes: 4 * kMiB, simulated: disks);
        await using var client = await NbdTestClient.OpenAsync(served.Port, structured: structured);
        var data = TestData.Bytes(TestData.NewRandom(output), 256 * kKiB);
        Assert.Equal(0u, (await client.WriteAsync(handle: 1, offset: 0, data)).Error);

        // Two members gone: RAID5 cannot rebuild what they held.
        disks.Disk(0).Kill();
        disks.Disk(1).Kill();
        var failed = await client.ReadAsync(handle: 2, offset: 0, length: 256 * kKiB);
        Assert.Equal(EIO, failed.Error);
        Assert.Empty(failed.Data);
        if (structured)
            Assert.False(string.IsNullOrEmpty(failed.Message), "a structured error carries the reason");

        Assert.Equal(EINVAL, (await client.ReadAsync(handle: 3, offset: 100, length: 512)).Error);
        Assert.Equal(EIO, (await client.WriteAsync(handle: 4, offset: 0, data, kCmdFlagFua)).Error);
        await client.SendRequestAsync(kCmdDisc, handle: 5, offset: 0, length: 0);
        Assert.True(await client.ClosedByServerAsync());
        await served.AssertIdleAsync();
    }

    [Fact]
    public async Task Hundreds_of_pipelined_requests_on_one_connection_are_each_answered_once_by_handle_beyond_the_in_flight_limit()
    {
        const int kRequests = 256;
        const int kRegionBytes = 64 * kKiB;
        await using var served = await ServedArray.StartAsync(output, options: new NbdServerOptions
        {
            MaxRequestsInFlightPerConnection = 16,
            ConnectionBufferBytes = 32 * kMiB,
            ServerBufferBytes = 32 * kMiB,
        });
        await using var client = await NbdTestClient.OpenAsync(served.Port);
        var random = TestData.NewRandom(output);
        var lengths = Enumerable.Range(0, kRequests).Select(_ => random.Next(1, kRegionBytes / 512 + 1) * 512).ToArray();
        var data = lengths.Select(length => TestData.Bytes(random, length)).ToArray();
        var fua = Enumerable.Range(0, kRequests).Select(_ => random.Next(4) == 0).ToArray();

        // Every write in flight before the first reply is read; then every read.
        var (writes, _) = await PipelineAsync(client, kRequests, handle => 0,
            i => client.SendRequestAsync(kCmdWrite, (ulong)i, (ulong)i * kRegionBytes, (uint)lengths[i], fua[i] ? kCmdFlagFua : (ushort)0, data[i]));
        Assert.All(writes.Values, reply => Assert.Equal(0u, reply.Error));

        var (reads, readsInOrder) = await PipelineAsync(client, kRequests, handle => lengths[handle - kRequests],
            i => client.SendRequestAsync(kCmdRead, (ulong)(kRequests + i), (ulong)i * kRegionBytes, (uint)lengths[i]));
        for (var i = 0; i < kRequests; i++)
        {
            Assert.Equal(0u, reads[(ulong)(kRequests + i)].Error);
            Assert.True(data[i].AsSpan().SequenceEqual(reads[(ulong)(kRequests + i)].Data), $"request {i} read back other bytes");
        }
        output.WriteLine($"reads answered {(readsInOrder ? "in" : "out of")} order");
        await client.DisposeAsync();
        await served.AssertIdleAsync();
    }

    [Theory]
    [InlineData(NbdTrimMode.WriteZeroes)]
    [InlineData(NbdTrimMode.Ignore)]
    public async Task Write_zeroes_reads_back_as_zeroes_trim_follows_its_mode_and_fua_and_flush_succeed(NbdTrimMode trim)
    {
        await using var served = await ServedArray.StartAsync(output, memberDataBytes: 4 * kMiB, options: new NbdServerOptions
        {
            Trim = trim,
            MaxBlockBytes = 2 * kMiB,
        });
        await using var client = await NbdTestClient.OpenAsync(served.Port, ServedArray.kExportName);
        var random = TestData.NewRandom(output);
        var expected = TestData.Bytes(random, 12 * kMiB);
        for (var offset = 0; offset < expected.Length; offset += 2 * kMiB)
            Assert.Equal(0u, (await client.WriteAsync(handle: 1, offset: (ulong)offset, expected.AsMemory(offset, 2 * kMiB), kCmdFlagFua)).Error);

        // Larger than the maximum block size, which only bounds payloads: served in pieces.
        Assert.Equal(0u, (await client.CommandAsync(kCmdWriteZeroes, handle: 2, offset: kMiB, length: 7 * kMiB + 4096, kCmdFlagFua | kCmdFlagNoHole)).Error);
        expected.AsSpan(kMiB, 7 * kMiB + 4096).Clear();
        Assert.Equal(0u, (await client.CommandAsync(kCmdWriteZeroes, handle: 3, offset: 512, length: 3584)).Error);
        expected.AsSpan(512, 3584).Clear();
        Assert.Equal(0u, (await client.CommandAsync(kCmdTrim, handle: 4, offset: 10 * kMiB, length: 64 * kKiB, kCmdFlagFua)).Error);
        if (trim == NbdTrimMode.WriteZeroes)
            expected.AsSpan(10 * kMiB, 64 * kKiB).Clear();
        Assert.Equal(0u, (await client.CommandAsync(kCmdFlush, handle: 5)).Error);

        var held = new byte[expected.Length];
        for (var offset = 0; offset < held.Length; offset += 2 * kMiB)
        {
            var read = await client.ReadAsync(handle: 6, offset: (ulong)offset, length: 2 * kMiB);
            read.Data.CopyTo(held, offset);
        }
        Assert.Equal(TestData.Sha256(expected), TestData.Sha256(held));
    }

    [Fact]
    public async Task A_client_that_vanishes_in_the_middle_of_a_write_leaves_acknowledged_writes_intact_and_nothing_held()
    {
        await using var served = await ServedArray.StartAsync(output);
        var random = TestData.NewRandom(output);
        var acknowledged = TestData.Bytes(random, 256 * kKiB);

        await using (var client = await NbdTestClient.OpenAsync(served.Port))
        {
            Assert.Equal(0u, (await client.WriteAsync(handle: 1, offset: 0, acknowledged)).Error);
            // A 1 MiB write whose payload stops after 300 KiB, then a reset.
            var header = new byte[28 + 300 * kKiB];
            random.NextBytes(header.AsSpan(28));
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(header, kRequestMagic);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(6), kCmdWrite);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(header.AsSpan(16), 2 * kMiB);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(24), kMiB);
            await client.SendAsync(header);
            client.Vanish();
        }
        await served.AssertIdleAsync();

        // Another client that leaves with many writes in flight and their replies unread.
        await using (var client = await NbdTestClient.OpenAsync(served.Port))
        {
            for (var i = 0; i < 64; i++)
                await client.SendRequestAsync(kCmdWrite, (ulong)i, 8 * kMiB + (ulong)i * 64 * kKiB, 64 * kKiB, payload: TestData.Bytes(random, 64 * kKiB));
            client.Vanish();
        }
        await served.AssertIdleAsync();

        await using var next = await NbdTestClient.OpenAsync(served.Port);
        Assert.Equal(acknowledged, (await next.ReadAsync(handle: 1, offset: 0, length: (uint)acknowledged.Length)).Data);
        Assert.Equal(new byte[kMiB], (await next.ReadAsync(handle: 2, offset: 2 * kMiB, length: kMiB)).Data);
        Assert.Equal(acknowledged, await TestData.ReadFromArrayAsync(served.Array, 0, acknowledged.Length));
        await next.DisposeAsync();
        await served.AssertIdleAsync();
    }

    [Fact]
    public async Task A_bad_request_magic_or_an_oversized_write_closes_that_connection_and_the_server_serves_the_next_client()
    {
        await using var served = await ServedArray.StartAsync(output);
        await using (var client = await NbdTestClient.OpenAsync(served.Port))
        {
            await client.SendRequestAsync(kCmdRead, handle: 1, offset: 0, length: 512, magic: 0x12345678);
            Assert.True(await client.ClosedByServerAsync(), "a request with a bad magic was answered");
        }
        await using (var client = await NbdTestClient.OpenAsync(served.Port))
        {
            await client.SendRequestAsync(kCmdWrite, handle: 1, offset: 0, length: uint.MaxValue - 511);
            Assert.True(await client.ClosedByServerAsync(), "a 4 GiB write was waited for");
        }
        await using (var client = await NbdTestClient.OpenAsync(served.Port))
        {
            var garbage = TestData.Bytes(TestData.NewRandom(output), 4096);
            await client.SendAsync(garbage);
            Assert.True(await client.ClosedByServerAsync(), "garbage was parsed as requests");
        }
        await served.AssertIdleAsync();

        await using var next = await NbdTestClient.OpenAsync(served.Port);
        Assert.Equal(0u, (await next.WriteAsync(handle: 1, offset: 0, new byte[4096])).Error);
    }

    [Fact]
    public async Task Writes_acknowledged_on_one_connection_are_read_on_every_other_and_flushed_by_any()
    {
        const int kClients = 4;
        await using var served = await ServedArray.StartAsync(output);
        var clients = await Task.WhenAll(Enumerable.Range(0, kClients).Select(i => NbdTestClient.OpenAsync(served.Port, i % 2 == 0 ? "" : ServedArray.kExportName)));
        var random = TestData.NewRandom(output);
        var data = Enumerable.Range(0, kClients).Select(_ => TestData.Bytes(random, 256 * kKiB)).ToArray();

        await Task.WhenAll(Enumerable.Range(0, kClients).Select(async i =>
            Assert.Equal(0u, (await clients[i].WriteAsync(handle: (ulong)i, offset: (ulong)i * kMiB, data[i])).Error)));
        Assert.Equal(0u, (await clients[0].CommandAsync(kCmdFlush, handle: 99)).Error);
        await Task.WhenAll(Enumerable.Range(0, kClients).Select(async i =>
        {
            var other = (i + 1) % kClients;
            Assert.Equal(data[other], (await clients[i].ReadAsync(handle: 100, offset: (ulong)other * kMiB, length: 256 * kKiB)).Data);
        }));
        foreach (var client in clients)
            await client.DisposeAsync();
        await served.AssertIdleAsync();
    }

    [Fact]
    public async Task Stop_answers_the_requests_already_read_then_closes_every_connection_and_refuses_new_ones()
    {
        await using var served = await ServedArray.StartAsync(output);
        await using var busy = await NbdTestClient.OpenAsync(served.Port);
        await using var idle = await NbdTestClient.OpenAsync(served.Port);
        var data = TestData.Bytes(TestData.NewRandom(output), 4 * kMiB);
        Assert.Equal(0u, (await busy.WriteAsync(handle: 1, offset: 0, data)).Error);

        // Zeroing 64 MiB takes a while: stop while the array works on it.
        await busy.SendRequestAsync(kCmdWriteZeroes, handle: 2, offset: 16 * kMiB, length: 64 * kMiB);
        await WaitUntilAsync(() => served.Server.GetStats().RequestsInFlight == 1);
        var stop = served.Server.StopAsync();

        var reply = await busy.ReadReplyAsync(_ => 0);
        Assert.Equal((2ul, 0u), (reply.Handle, reply.Error));
        Assert.True(await busy.ClosedByServerAsync(), "the busy client was not disconnected");
        Assert.True(await idle.ClosedByServerAsync(), "the idle client was not disconnected");
        await stop.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(0, served.Server.GetStats().Connections);
        await Assert.ThrowsAsync<SocketException>(() => new TcpClient().ConnectAsync("127.0.0.1", served.Port));

        Assert.Equal(data, await TestData.ReadFromArrayAsync(served.Array, 0, data.Length));
        Assert.Equal(new byte[kMiB], await TestData.ReadFromArrayAsync(served.Array, 79 * kMiB, kMiB));
    }

    /// <summary>Sends <paramref name="count"/> requests while another task reads the replies; returns them by handle (each exactly once) and whether they came in order.</summary>
    private static async Task<(SortedDictionary<ulong, Reply> ByHandle, bool InOrder)> PipelineAsync(NbdTestClient client, int count, Func<int, int> readLength, Func<int, Task> send)
    {
        var replies = new ConcurrentQueue<Reply>();
        var receiving = Task.Run(async () =>
        {
            for (var i = 0; i < count; i++)
                replies.Enqueue(await client.ReadReplyAsync(handle => readLength((int)handle)));
        });
        for (var i = 0; i < count; i++)
            await send(i);
        await receiving;
        var byHandle = new SortedDictionary<ulong, Reply>();
        foreach (var reply in replies)
            Assert.True(byHandle.TryAdd(reply.Handle, reply), $"handle {reply.Handle} answered twice");
        Assert.Equal(count, byHandle.Count);
        var arrival = replies.Select(r => r.Handle).ToList();
        return (byHandle, arrival.SequenceEqual(arrival.Order()));
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition never held");
            await Task.Delay(5);
        }
    }
}
