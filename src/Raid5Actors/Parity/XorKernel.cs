using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Raid5Actors.Parity;

/// <summary>
/// destination = XOR of up to eight sources, in one pass: every source byte is loaded once and every
/// destination byte stored once. Widest accelerated vector first (unrolled by 4 so loads of the
/// next vectors overlap the XORs of the previous ones), then narrower vectors, ulong and bytes for
/// the tail. Shaped after Garnet's BitmapManagerBitOp, without pointers.
/// </summary>
/// <remarks>
/// Every load of an iteration happens before its stores, so a destination that is also one of the
/// sources at the same offset (Accumulate) is safe. Any other overlap is the caller's to refuse.
/// </remarks>
internal static class XorKernel
{
    private const int kUnroll = 4;

    public static void Run(ref byte destination, nuint lengthBytes, scoped in XorSources sources)
    {
        switch (sources.Count)
        {
            case 1: Run<Sources1>(ref destination, lengthBytes, in sources); break;
            case 2: Run<Sources2>(ref destination, lengthBytes, in sources); break;
            case 3: Run<Sources3>(ref destination, lengthBytes, in sources); break;
            case 4: Run<Sources4>(ref destination, lengthBytes, in sources); break;
            case 5: Run<Sources5>(ref destination, lengthBytes, in sources); break;
            case 6: Run<Sources6>(ref destination, lengthBytes, in sources); break;
            case 7: Run<Sources7>(ref destination, lengthBytes, in sources); break;
            case 8: Run<Sources8>(ref destination, lengthBytes, in sources); break;
            default: throw new ArgumentOutOfRangeException(nameof(sources), sources.Count, "1 to 8 sources per kernel call");
        }
    }

    private static void Run<TCount>(ref byte destination, nuint lengthBytes, scoped in XorSources sources)
        where TCount : struct, ISourceCount
    {
        // A local the JIT can keep in registers: the stages below are inlined here on purpose,
        // since refs behind a pointer would be reloaded every iteration (stores might alias them).
        var refs = sources.ToRefs();

        // IsHardwareAccelerated is a JIT-time constant: only the usable widths are compiled in. Each
        // narrower stage starts where the wider one stopped, so it only sees that stage's remainder.
        nuint offset = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            offset = Run512<TCount>(ref destination, offset, lengthBytes, in refs);
        }

        if (Vector256.IsHardwareAccelerated)
        {
            offset = Run256<TCount>(ref destination, offset, lengthBytes, in refs);
        }

        if (Vector128.IsHardwareAccelerated)
        {
            offset = Run128<TCount>(ref destination, offset, lengthBytes, in refs);
        }

        offset = Run64<TCount>(ref destination, offset, lengthBytes, in refs);
        Run8<TCount>(ref destination, offset, lengthBytes, in refs);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static nuint Run512<TCount>(ref byte destination, nuint offset, nuint lengthBytes, scoped in XorRefs r)
        where TCount : struct, ISourceCount
    {
        const nuint kBytes = 64;
        for (; offset + (kUnroll * kBytes) <= lengthBytes; offset += kUnroll * kBytes)
        {
            var a0 = Xor512<TCount>(in r, offset);
            var a1 = Xor512<TCount>(in r, offset + kBytes);
            var a2 = Xor512<TCount>(in r, offset + (2 * kBytes));
            var a3 = Xor512<TCount>(in r, offset + (3 * kBytes));
            a0.StoreUnsafe(ref destination, offset);
            a1.StoreUnsafe(ref destination, offset + kBytes);
            a2.StoreUnsafe(ref destination, offset + (2 * kBytes));
            a3.StoreUnsafe(ref destination, offset + (3 * kBytes));
        }

        for (; offset + kBytes <= lengthBytes; offset += kBytes)
        {
            Xor512<TCount>(in r, offset).StoreUnsafe(ref destination, offset);
        }

        return offset;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static nuint Run256<TCount>(ref byte destination, nuint offset, nuint lengthBytes, scoped in XorRefs r)
        where TCount : struct, ISourceCount
    {
        const nuint kBytes = 32;
        for (; offset + (kUnroll * kBytes) <= lengthBytes; offset += kUnroll * kBytes)
        {
            var a0 = Xor256<TCount>(in r, offset);
            var a1 = Xor256<TCount>(in r, offset + kBytes);
            var a2 = Xor256<TCount>(in r, offset + (2 * kBytes));
            var a3 = Xor256<TCount>(in r, offset + (3 * kBytes));
            a0.StoreUnsafe(ref destination, offset);
            a1.StoreUnsafe(ref destination, offset + kBytes);
            a2.StoreUnsafe(ref destination, offset + (2 * kBytes));
            a3.StoreUnsafe(ref destination, offset + (3 * kBytes));
        }

        for (; offset + kBytes <= lengthBytes; offset += kBytes)
        {
            Xor256<TCount>(in r, offset).StoreUnsafe(ref destination, offset);
        }

        return offset;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static nuint Run128<TCount>(ref byte destination, nuint offset, nuint lengthBytes, scoped in XorRefs r)
        where TCount : struct, ISourceCount
    {
        const nuint kBytes = 16;
        for (; offset + (kUnroll * kBytes) <= lengthBytes; offset += kUnroll * kBytes)
        {
            var a0 = Xor128<TCount>(in r, offset);
            var a1 = Xor128<TCount>(in r, offset + kBytes);
            var a2 = Xor128<TCount>(in r, offset + (2 * kBytes));
            var a3 = Xor128<TCount>(in r, offset + (3 * kBytes));
            a0.StoreUnsafe(ref destination, offset);
            a1.StoreUnsafe(ref destination, offset + kBytes);
            a2.StoreUnsafe(ref destination, offset + (2 * kBytes));
            a3.StoreUnsafe(ref destination, offset + (3 * kBytes));
        }

        for (; offset + kBytes <= lengthBytes; offset += kBytes)
        {
            Xor128<TCount>(in r, offset).StoreUnsafe(ref destination, offset);
        }

        return offset;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static nuint Run64<TCount>(ref byte destination, nuint offset, nuint lengthBytes, scoped in XorRefs r)
        where TCount : struct, ISourceCount
    {
        for (; offset + sizeof(ulong) <= lengthBytes; offset += sizeof(ulong))
        {
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref destination, offset), Xor64<TCount>(in r, offset));
        }

        return offset;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Run8<TCount>(ref byte destination, nuint offset, nuint lengthBytes, scoped in XorRefs r)
        where TCount : struct, ISourceCount
    {
        for (; offset < lengthBytes; offset++)
        {
            Unsafe.Add(ref destination, offset) = Xor8<TCount>(in r, offset);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> Xor512<TCount>(scoped in XorRefs r, nuint offset)
        where TCount : struct, ISourceCount
    {
        var a = Vector512.LoadUnsafe(ref r.S0, offset);
        if (TCount.Value > 1) { a ^= Vector512.LoadUnsafe(ref r.S1, offset); }
        if (TCount.Value > 2) { a ^= Vector512.LoadUnsafe(ref r.S2, offset); }
        if (TCount.Value > 3) { a ^= Vector512.LoadUnsafe(ref r.S3, offset); }
        if (TCount.Value > 4) { a ^= Vector512.LoadUnsafe(ref r.S4, offset); }
        if (TCount.Value > 5) { a ^= Vector512.LoadUnsafe(ref r.S5, offset); }
        if (TCount.Value > 6) { a ^= Vector512.LoadUnsafe(ref r.S6, offset); }
        if (TCount.Value > 7) { a ^= Vector512.LoadUnsafe(ref r.S7, offset); }
        return a;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Xor256<TCount>(scoped in XorRefs r, nuint offset)
        where TCount : struct, ISourceCount
    {
        var a = Vector256.LoadUnsafe(ref r.S0, offset);
        if (TCount.Value > 1) { a ^= Vector256.LoadUnsafe(ref r.S1, offset); }
        if (TCount.Value > 2) { a ^= Vector256.LoadUnsafe(ref r.S2, offset); }
        if (TCount.Value > 3) { a ^= Vector256.LoadUnsafe(ref r.S3, offset); }
        if (TCount.Value > 4) { a ^= Vector256.LoadUnsafe(ref r.S4, offset); }
        if (TCount.Value > 5) { a ^= Vector256.LoadUnsafe(ref r.S5, offset); }
        if (TCount.Value > 6) { a ^= Vector256.LoadUnsafe(ref r.S6, offset); }
        if (TCount.Value > 7) { a ^= Vector256.LoadUnsafe(ref r.S7, offset); }
        return a;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<byte> Xor128<TCount>(scoped in XorRefs r, nuint offset)
        where TCount : struct, ISourceCount
    {
        var a = Vector128.LoadUnsafe(ref r.S0, offset);
        if (TCount.Value > 1) { a ^= Vector128.LoadUnsafe(ref r.S1, offset); }
        if (TCount.Value > 2) { a ^= Vector128.LoadUnsafe(ref r.S2, offset); }
        if (TCount.Value > 3) { a ^= Vector128.LoadUnsafe(ref r.S3, offset); }
        if (TCount.Value > 4) { a ^= Vector128.LoadUnsafe(ref r.S4, offset); }
        if (TCount.Value > 5) { a ^= Vector128.LoadUnsafe(ref r.S5, offset); }
        if (TCount.Value > 6) { a ^= Vector128.LoadUnsafe(ref r.S6, offset); }
        if (TCount.Value > 7) { a ^= Vector128.LoadUnsafe(ref r.S7, offset); }
        return a;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Xor64<TCount>(scoped in XorRefs r, nuint offset)
        where TCount : struct, ISourceCount
    {
        var a = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref r.S0, offset));
        if (TCount.Value > 1) { a ^= Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref r.S1, offset)); }
        if (TCount.Value > 2) { a ^= Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref r.S2, offset)); }
        if (TCount.Value > 3) { a ^= Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref r.S3, offset)); }
        if (TCount.Value > 4) { a ^= Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref r.S4, offset)); }
        if (TCount.Value > 5) { a ^= Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref r.S5, offset)); }
        if (TCount.Value > 6) { a ^= Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref r.S6, offset)); }
        if (TCount.Value > 7) { a ^= Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref r.S7, offset)); }
        return a;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static byte Xor8<TCount>(scoped in XorRefs r, nuint offset)
        where TCount : struct, ISourceCount
    {
        var a = Unsafe.Add(ref r.S0, offset);
        if (TCount.Value > 1) { a ^= Unsafe.Add(ref r.S1, offset); }
        if (TCount.Value > 2) { a ^= Unsafe.Add(ref r.S2, offset); }
        if (TCount.Value > 3) { a ^= Unsafe.Add(ref r.S3, offset); }
        if (TCount.Value > 4) { a ^= Unsafe.Add(ref r.S4, offset); }
        if (TCount.Value > 5) { a ^= Unsafe.Add(ref r.S5, offset); }
        if (TCount.Value > 6) { a ^= Unsafe.Add(ref r.S6, offset); }
        if (TCount.Value > 7) { a ^= Unsafe.Add(ref r.S7, offset); }
        return a;
    }
}
