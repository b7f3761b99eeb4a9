using System.Runtime.InteropServices;

namespace Raid5Actors.Parity;

/// <summary>
/// RAID5 parity: P = D0 ^ D1 ^ ... ^ Dk-1. Any length and alignment; vectorised by <see cref="XorKernel"/>.
/// </summary>
public static class XorParity
{
    // With more than eight sources the kernel runs in groups; working block by block keeps the
    // destination block in L1 between groups, so memory still sees one pass over each source.
    private const int kBlockBytes = 8 * 1024;

    /// <summary>destination ^= source (read-modify-write parity update, degraded reads).</summary>
    public static void Accumulate(Span<byte> destination, ReadOnlySpan<byte> source)
    {
        if (source.Length != destination.Length)
        {
            throw new ArgumentException(
                $"Source is {source.Length} bytes but the destination is {destination.Length} bytes; they must be equal.",
                nameof(source));
        }

        // The kernel loads before it stores, so only a shifted overlap would read bytes it already wrote.
        if (destination.Overlaps(source, out var shiftElements) && shiftElements != 0)
        {
            throw new ArgumentException("Source partially overlaps the destination.", nameof(source));
        }

        var sources = default(XorSources);
        sources.Add(destination);
        sources.Add(source);
        XorKernel.Run(ref MemoryMarshal.GetReference(destination), (nuint)destination.Length, in sources);
    }

    /// <summary>destination = XOR of all sources (full-stripe parity, reconstruction of a lost member).</summary>
    public static void Compute(Span<byte> destination, ReadOnlySpan<ReadOnlyMemory<byte>> sources)
    {
        Validate(destination, sources);
        if (sources.Length <= XorSources.kMaxSources)
        {
            ComputeBlock(destination, sources, 0);
            return;
        }

        for (var start = 0; start < destination.Length; start += kBlockBytes)
        {
            var blockBytes = Math.Min(kBlockBytes, destination.Length - start);
            ComputeBlock(destination.Slice(start, blockBytes), sources, start);
        }
    }

    private static void ComputeBlock(Span<byte> destination, ReadOnlySpan<ReadOnlyMemory<byte>> sources, int start)
    {
        ref var destinationRef = ref MemoryMarshal.GetReference(destination);
        var lengthBytes = (nuint)destination.Length;
        var next = 0;
        var group = default(XorSources);
        while (next < sources.Length)
        {
            // Later groups fold the partial result already in the destination back in as source 0.
            if (next > 0)
            {
                group = default;
                group.Add(destination);
            }

            while (group.Count < XorSources.kMaxSources && next < sources.Length)
            {
                group.Add(sources[next].Span.Slice(start, destination.Length));
                next++;
            }

            XorKernel.Run(ref destinationRef, lengthBytes, in group);
        }
    }

    private static void Validate(Span<byte> destination, ReadOnlySpan<ReadOnlyMemory<byte>> sources)
    {
        if (sources.IsEmpty)
        {
            throw new ArgumentException("Parity needs at least one source.", nameof(sources));
        }

        for (var i = 0; i < sources.Length; i++)
        {
            var source = sources[i].Span;
            if (source.Length != destination.Length)
            {
                throw new ArgumentException(
                    $"Source {i} is {source.Length} bytes but the destination is {destination.Length} bytes; they must be equal.",
                    nameof(sources));
            }

            // The result would depend on how far the kernel had got when it read an overwritten byte.
            if (destination.Overlaps(source))
            {
                throw new ArgumentException($"Source {i} overlaps the destination.", nameof(sources));
            }
        }
    }
}
