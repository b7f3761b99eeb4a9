using Raid5Actors.Geometry;

namespace Raid5Actors.Tests.Geometry;

public class Raid5LayoutNamesSpec
{
    [Theory]
    [InlineData(Raid5Layout.LeftAsymmetric, "left-asymmetric", "la", "0")]
    [InlineData(Raid5Layout.RightAsymmetric, "right-asymmetric", "ra", "1")]
    [InlineData(Raid5Layout.LeftSymmetric, "left-symmetric", "ls", "2")]
    [InlineData(Raid5Layout.RightSymmetric, "right-symmetric", "rs", "3")]
    [InlineData(Raid5Layout.ParityFirst, "parity-first", null, "4")]
    [InlineData(Raid5Layout.ParityLast, "parity-last", null, "5")]
    public void Each_layout_has_mdadm_names_that_parse_back(Raid5Layout layout, string name, string? alias, string mdNumber)
    {
        Assert.Equal(name, Raid5LayoutNames.ToName(layout));
        Assert.Equal(layout, Raid5LayoutNames.Parse(name));
        Assert.Equal(layout, Raid5LayoutNames.Parse(name.ToUpperInvariant()));
        Assert.Equal(layout, Raid5LayoutNames.Parse(mdNumber));
        Assert.Equal((int)layout, int.Parse(mdNumber));
        if (alias is not null)
        {
            Assert.Equal(layout, Raid5LayoutNames.Parse(alias));
            Assert.Equal(layout, Raid5LayoutNames.Parse(alias.ToUpperInvariant()));
        }
    }

    [Fact]
    public void Left_symmetric_is_mds_default_number_2()
    {
        Assert.Equal(2, (int)Raid5Layout.LeftSymmetric);
        Assert.Equal(Raid5Layout.LeftSymmetric, Raid5LayoutNames.Parse("Left-Symmetric"));
    }

    [Theory]
    [InlineData("left")]
    [InlineData("6")]
    [InlineData("-1")]
    [InlineData("02")]
    [InlineData("")]
    [InlineData("raid5")]
    public void Unknown_text_does_not_parse(string text)
    {
        Assert.False(Raid5LayoutNames.TryParse(text, out _));

        var error = Assert.Throws<Raid5GeometryException>(() => Raid5LayoutNames.Parse(text));
        Assert.Contains($"'{text}'", error.Message);
        foreach (var layout in Enum.GetValues<Raid5Layout>())
        {
            Assert.Contains(Raid5LayoutNames.ToName(layout), error.Message);
        }
    }

    [Fact]
    public void Null_does_not_parse()
    {
        Assert.False(Raid5LayoutNames.TryParse(null, out _));
        Assert.Throws<Raid5GeometryException>(() => Raid5LayoutNames.Parse(null));
    }

    [Fact]
    public void Undefined_layout_has_no_name()
    {
        var error = Assert.Throws<Raid5GeometryException>(() => Raid5LayoutNames.ToName((Raid5Layout)9));

        Assert.Contains("9", error.Message);
    }
}
