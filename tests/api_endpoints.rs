//! Every endpoint, end to end through `call_by_name`, against a fake WeCom: the HTTP method,
//! the path, the query (`access_token`, and the parameters of GET endpoints), the exact JSON
//! body of a representative request, and an official-shaped answer decoded and printed back.
//!
//! Walking this table proves every name in `METHODS` works; the table is written out here (not
//! derived from the client's own endpoint list) so a wrong path or verb in the client fails.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use wecom_callback::api::{Client, METHODS, call_by_name};
use wiremock::matchers::{body_json, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "ENDPOINT-TEST-TOKEN";

/// One endpoint: method name, HTTP verb, path after `/cgi-bin/externalcontact/`, request, and
/// an answer payload (without `errcode`/`errmsg`).
struct Case {
    name: &'static str,
    verb: &'static str,
    path: &'static str,
    request: Value,
    answer: Value,
}

fn post(name: &'static str, path: &'static str, request: Value, answer: Value) -> Case {
    Case {
        name,
        verb: "POST",
        path,
        request,
        answer,
    }
}

fn get(name: &'static str, path: &'static str, request: Value, answer: Value) -> Case {
    Case {
        name,
        verb: "GET",
        path,
        request,
        answer,
    }
}

fn link() -> Value {
    json!({"msgtype": "link", "link": {"title": "春季活动", "picurl": "https://p/x.png", "desc": "详情", "url": "https://example.com"}})
}

fn attachments() -> Value {
    json!([
        {"msgtype": "image", "image": {"media_id": "MEDIA_ID"}},
        link(),
        {"msgtype": "miniprogram", "miniprogram": {"title": "小程序", "pic_media_id": "PIC", "appid": "wx8bd80126147dfAAA", "page": "/path/index.html"}},
        {"msgtype": "video", "video": {"media_id": "VIDEO"}},
        {"msgtype": "file", "file": {"media_id": "FILE"}}
    ])
}

fn contact() -> Value {
    json!({
        "external_userid": "woAJ2GCAAAXtWyujaWJHDDGi0mACHAAA",
        "name": "李四", "position": "Manager", "avatar": "https://avatar", "corp_name": "腾讯",
        "corp_full_name": "腾讯科技有限公司", "type": 2, "gender": 1, "unionid": "ozynqsulJFCZ2z1aYeS8h-nuasdAAA",
        "external_profile": {"external_attr": [
            {"type": 0, "name": "文本名称", "text": {"value": "文本"}},
            {"type": 1, "name": "网页名称", "web": {"url": "http://www.test.com", "title": "标题"}},
            {"type": 2, "name": "测试app", "miniprogram": {"appid": "wx8OOOOOOOO", "pagepath": "/index", "title": "my miniprogram"}}
        ]}
    })
}

fn follow_user() -> Value {
    json!({
        "userid": "rocky", "remark": "李部长", "description": "对接采购事务", "createtime": 1525779812,
        "tags": [{"group_name": "标签分组名称", "tag_name": "标签名称", "tag_id": "etAJ2GCAAAXtWyujaWJHDDGi0mACHAAA", "type": 1}],
        "remark_corp_name": "腾讯科技", "remark_mobiles": ["13800000001"], "oper_userid": "rocky",
        "add_way": 1, "state": "外部联系人的自定义标识", "wechat_channels": {"nickname": "视频号名称", "source": 1}
    })
}

fn privilege() -> Value {
    json!({"view_customer_list": true, "send_customer_msg": false, "manage_customer_tag": true})
}

fn tag_group() -> Value {
    json!({"group_id": "TAG_GROUPID1", "group_name": "GOURP_NAME", "create_time": 1557838797, "order": 1,
           "tag": [{"id": "TAG_ID1", "name": "NAME1", "create_time": 1557838797, "order": 1}]})
}

fn stat_data() -> Value {
    json!({"new_chat_cnt": 2, "chat_total": 2, "chat_has_msg": 0, "new_member_cnt": 0, "member_total": 6,
           "member_has_msg": 0, "msg_total": 0, "migrate_trainee_chat_cnt": 3})
}

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    vec![
        // 客户管理
        get("get_follow_user_list", "get_follow_user_list", json!({}), json!({"follow_user": ["zhangsan", "lissi"]})),
        get("list", "list", json!({"userid": "zhangsan"}), json!({"external_userid": ["woAAA", "woBBB"]})),
        get("get", "get", json!({"external_userid": "woAAA", "cursor": "CURSOR"}),
            json!({"external_contact": contact(), "follow_user": [follow_user()], "next_cursor": "NEXT"})),
        post("batch_get_by_user", "batch/get_by_user", json!({"userid_list": ["rocky", "jerry"], "cursor": "", "limit": 100}),
            json!({"external_contact_list": [{"external_contact": contact(), "follow_info": {
                "userid": "rocky", "remark": "李部长", "description": "对接采购事务", "createtime": 1525779812,
                "tag_id": ["etAJ2GCAAAXtWyujaWJHDDGi0mACHAAA"], "remark_mobiles": ["13800000001"], "add_way": 1, "oper_userid": "rocky"}}],
                "next_cursor": "r9FqSqsI8fgNbHLHE5QoCP50UIg2cFQbfma3l2QsmwI", "fail_info": {"unlicensed_userid_list": ["zhangsan"]}})),
        post("remark", "remark", json!({"userid": "zhangsan", "external_userid": "woAAA", "remark": "备注", "remark_mobiles": []}), json!({})),
        // 「联系我」
        post("add_contact_way", "add_contact_way",
            json!({"type": 1, "scene": 1, "style": 1, "remark": "渠道客户", "skip_verify": true, "state": "teststate",
                   "user": ["zhangsan"], "party": [2, 3], "is_temp": true, "expires_in": 86400, "chat_expires_in": 86400,
                   "unionid": "oxTWIuGaIt6gTKsQRLau2M0AAAA", "is_exclusive": true,
                   "conclusions": {"text": {"content": "文本消息内容"}, "image": {"media_id": "MEDIA_ID"},
                                   "link": {"title": "消息标题", "picurl": "https://p", "desc": "消息描述", "url": "https://u"},
                                   "miniprogram": {"title": "消息标题", "pic_media_id": "MEDIA_ID", "appid": "wx8bd80126147dfAAA", "page": "/path/index"}}}),
            json!({"config_id": "42b34949e138eb6e027c123cba77fAAA", "qr_code": "http://p.qpic.cn/wwhead/duc2TvpEgS"})),
        post("get_contact_way", "get_contact_way", json!({"config_id": "42b34949e138eb6e027c123cba77fad7"}),
            json!({"contact_way": {"config_id": "42b34949e138eb6e027c123cba77fAAA", "type": 1, "scene": 1, "style": 2,
                   "remark": "test remark", "skip_verify": true, "state": "teststate", "qr_code": "http://p.qpic.cn/wwhead/x",
                   "user": ["zhangsan", "lisi"], "party": [2, 3], "is_temp": true, "expires_in": 86400, "chat_expires_in": 86400,
                   "unionid": "oxTWIuGaIt6gTKsQRLau2M0AAAA", "conclusions": {"text": {"content": "文本消息内容"}, "image": {"pic_url": "http://p.qpic.cn/pic_wework/x"}}}})),
        post("list_contact_way", "list_contact_way", json!({"start_time": 1622476800, "end_time": 1625068800, "cursor": "CURSOR", "limit": 1000}),
            json!({"contact_way": [{"config_id": "534b63270045c9ABiKEE814ef56d91c62f"}, {"config_id": "87bBiKEE811c62f63270041c62f5c9A4"}], "next_cursor": "NEXT_CURSOR"})),
        post("update_contact_way", "update_contact_way", json!({"config_id": "42b34949e138eb6e027c123cba77fAAA", "remark": "渠道客户", "skip_verify": false, "user": ["zhangsan"]}), json!({})),
        post("del_contact_way", "del_contact_way", json!({"config_id": "42b34949e138eb6e027c123cba77fAAA"}), json!({})),
        post("close_temp_chat", "close_temp_chat", json!({"userid": "zhangyisheng", "external_userid": "woAJ2GCAAAXtWyujaWJHDDGi0mACAAAA"}), json!({})),
        // 客户联系规则组
        post("customer_strategy_list", "customer_strategy/list", json!({"cursor": "CURSOR", "limit": 1000}),
            json!({"strategy": [{"strategy_id": 1}, {"strategy_id": 2}], "next_cursor": "NEXT_CURSOR"})),
        post("customer_strategy_get", "customer_strategy/get", json!({"strategy_id": 1}),
            json!({"strategy": {"strategy_id": 1, "parent_id": 0, "strategy_name": "NAME", "create_time": 1557838797,
                   "admin_list": ["zhangsan", "lisi"], "privilege": privilege()}})),
        post("customer_strategy_get_range", "customer_strategy/get_range", json!({"strategy_id": 1, "cursor": "CURSOR", "limit": 1000}),
            json!({"range": [{"type": 1, "userid": "zhangsan"}, {"type": 2, "partyid": 1}], "next_cursor": "NEXT_CURSOR"})),
        post("customer_strategy_create", "customer_strategy/create",
            json!({"parent_id": 0, "strategy_name": "NAME", "admin_list": ["zhangsan", "lisi"], "privilege": privilege(),
                   "range": [{"type": 1, "userid": "zhangsan"}, {"type": 2, "partyid": 1}]}),
            json!({"strategy_id": 1})),
        post("customer_strategy_edit", "customer_strategy/edit",
            json!({"strategy_id": 1, "strategy_name": "NAME", "admin_list": ["zhangsan"], "privilege": {"view_customer_list": true},
                   "range_add": [{"type": 1, "userid": "lisi"}], "range_del": [{"type": 2, "partyid": 2}]}),
            json!({})),
        post("customer_strategy_del", "customer_strategy/del", json!({"strategy_id": 1}), json!({})),
        // 客户朋友圈规则组
        post("moment_strategy_list", "moment_strategy/list", json!({"limit": 100}),
            json!({"strategy": [{"strategy_id": 7}], "next_cursor": ""})),
        post("moment_strategy_get", "moment_strategy/get", json!({"strategy_id": 7}),
            json!({"strategy": {"strategy_id": 7, "parent_id": 0, "strategy_name": "NAME", "create_time": 1557838797,
                   "admin_list": ["zhangsan"], "privilege": {"send_moment": true, "view_moment_list": true, "manage_moment_cover_and_sign": false}}})),
        post("moment_strategy_get_range", "moment_strategy/get_range", json!({"strategy_id": 7, "limit": 10}),
            json!({"range": [{"type": 1, "userid": "zhangsan"}], "next_cursor": ""})),
        post("moment_strategy_create", "moment_strategy/create",
            json!({"strategy_name": "NAME", "admin_list": ["zhangsan"], "privilege": {"send_moment": true}, "range": [{"type": 2, "partyid": 3}]}),
            json!({"strategy_id": 8})),
        post("moment_strategy_edit", "moment_strategy/edit", json!({"strategy_id": 8, "range_del": [{"type": 2, "partyid": 3}]}), json!({})),
        post("moment_strategy_del", "moment_strategy/del", json!({"strategy_id": 8}), json!({})),
        // 客户标签
        post("get_corp_tag_list", "get_corp_tag_list", json!({"tag_id": ["etXXXXXXXXXX"], "group_id": ["etYYYYYYYYYY"]}),
            json!({"tag_group": [tag_group()]})),
        post("add_corp_tag", "add_corp_tag",
            json!({"group_id": "GROUP_ID", "group_name": "GROUP_NAME", "order": 1, "tag": [{"name": "TAG_NAME_1", "order": 1}, {"name": "TAG_NAME_2"}], "agentid": 1000014}),
            json!({"tag_group": tag_group()})),
        post("edit_corp_tag", "edit_corp_tag", json!({"id": "TAG_ID", "name": "NEW_TAG_NAME", "order": 1, "agentid": 1000014}), json!({})),
        post("del_corp_tag", "del_corp_tag", json!({"tag_id": ["TAG_ID_1"], "group_id": ["GROUP_ID_1"]}), json!({})),
        post("get_strategy_tag_list", "get_strategy_tag_list", json!({"strategy_id": 1, "tag_id": ["TAG_ID_1"]}),
            json!({"tag_group": [{"group_id": "TAG_GROUPID1", "group_name": "GOURP_NAME", "create_time": 1557838797, "order": 1, "strategy_id": 1,
                   "tag": [{"id": "TAG_ID1", "name": "NAME1", "create_time": 1557838797, "order": 1}]}]})),
        post("add_strategy_tag", "add_strategy_tag", json!({"strategy_id": 1, "group_name": "GROUP_NAME", "order": 1, "tag": [{"name": "TAG_NAME_1", "order": 1}]}),
            json!({"tag_group": tag_group()})),
        post("edit_strategy_tag", "edit_strategy_tag", json!({"id": "TAG_ID", "name": "NEW_TAG_NAME", "order": 1}), json!({})),
        post("del_strategy_tag", "del_strategy_tag", json!({"tag_id": ["TAG_ID_1", "TAG_ID_2"]}), json!({})),
        post("mark_tag", "mark_tag", json!({"userid": "zhangshan", "external_userid": "woAJ2GCAAAd1NPGHKSD4wKmE8Aabj9AAA", "add_tag": ["TAGID1"], "remove_tag": ["TAGID2"]}), json!({})),
        // 在职继承 / 离职继承
        post("transfer_customer", "transfer_customer",
            json!({"handover_userid": "zhangsan", "takeover_userid": "lisi", "external_userid": ["woAJ2GCAAAXtWyujaWJHDDGi0mACAAAA", "woAJ2GCAAAXtWyujaWJHDDGi0mACBBBB"], "transfer_success_msg": "您好，您的服务已升级"}),
            json!({"customer": [{"external_userid": "woAJ2GCAAAXtWyujaWJHDDGi0mACAAAA", "errcode": 40096}, {"external_userid": "woAJ2GCAAAXtWyujaWJHDDGi0mACBBBB", "errcode": 0}]})),
        post("transfer_result", "transfer_result", json!({"handover_userid": "zhangsan", "takeover_userid": "lisi", "cursor": "CURSOR"}),
            json!({"customer": [{"external_userid": "woAJ2GCAAAXtWyujaWJHDDGi0mACAAAA", "status": 1, "takeover_time": 1588262400}], "next_cursor": "NEXT_CURSOR"})),
        post("get_unassigned_list", "get_unassigned_list", json!({"cursor": "CURSOR", "page_size": 100}),
            json!({"info": [{"handover_userid": "zhangsan", "external_userid": "woAJ2GCAAAd4uL12hdfsdasassdDmAAAAA", "dimission_time": 1550838571}], "is_last": false, "next_cursor": "aSfwejksvhToiMMfFeIGZZ"})),
        post("resigned_transfer_customer", "resigned/transfer_customer",
            json!({"handover_userid": "zhangsan", "takeover_userid": "lisi", "external_userid": ["woAJ2GCAAAXtWyujaWJHDDGi0mACAAAA"]}),
            json!({"customer": [{"external_userid": "woAJ2GCAAAXtWyujaWJHDDGi0mACAAAA", "errcode": 0}]})),
        post("resigned_transfer_result", "resigned/transfer_result", json!({"handover_userid": "zhangsan", "takeover_userid": "lisi"}),
            json!({"customer": [{"external_userid": "woAJ2GCAAAXtWyujaWJHDDGi0mACBBBB", "status": 2, "takeover_time": 1588262400}], "next_cursor": ""})),
        post("groupchat_transfer", "groupchat/transfer", json!({"chat_id_list": ["wrOgQhDgAAcwMTB7YmDkbeBsgT_AAAA", "wrOgQhDgAAMYQiS5ol9G7gK9JVQUAAAA"], "new_owner": "zhangsan"}),
            json!({"failed_chat_list": [{"chat_id": "wrOgQhDgAAcwMTB7YmDkbeBsgT_AAAA", "errcode": 90500, "errmsg": "the owner of this chat is not resigned"}]})),
        post("groupchat_onjob_transfer", "groupchat/onjob_transfer", json!({"chat_id_list": ["wrOgQhDgAAcwMTB7YmDkbeBsgT_AAAA"], "new_owner": "zhangsan"}),
            json!({"failed_chat_list": []})),
        // 客户群
        post("groupchat_list", "groupchat/list", json!({"status_filter": 0, "owner_filter": {"userid_list": ["abel"]}, "cursor": "r9FqSqsI8fgNbHLHE5QoCP50UIg2cFQbfma3l2QsmwI", "limit": 10}),
            json!({"group_chat_list": [{"chat_id": "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA", "status": 0}], "next_cursor": "tJzlB9tdqfh-g7i_J-ehOz_TWcd7dSKa39_AqCIeMFw"})),
        post("groupchat_get", "groupchat/get", json!({"chat_id": "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA", "need_name": 1}),
            json!({"group_chat": {"chat_id": "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA", "name": "销售客服群", "owner": "ZhuShengBen", "create_time": 1572505490, "notice": "文明沟通，拒绝脏话",
                   "member_list": [{"userid": "abel", "type": 1, "join_time": 1572505491, "join_scene": 1, "invitor": {"userid": "jack"}, "group_nickname": "客服小张", "name": "张三丰"},
                                   {"userid": "wmOgQhDgAAuXFJGwbve4g4iXknfOAAAA", "type": 2, "unionid": "ozynqsulJFCZ2z1aYeS8h-nuasdAAA", "join_time": 1572505491, "join_scene": 1, "group_nickname": "顾客老王", "name": "王语嫣", "state": "teststate"}],
                   "admin_list": [{"userid": "sam"}, {"userid": "pony"}], "member_version": "71217227bbd112ecfe3a49c482195cb4"}})),
        // 客户朋友圈
        post("get_moment_list", "get_moment_list", json!({"start_time": 1605000000, "end_time": 1605172726, "creator": "zhangshan", "filter_type": 1, "cursor": "CURSOR", "limit": 10}),
            json!({"next_cursor": "CURSOR", "moment_list": [{"moment_id": "momxxx", "creator": "xxxx", "create_time": 1605172726, "create_type": 1, "visible_type": 1,
                   "text": {"content": "test"}, "image": [{"media_id": "WWCISP_xxxxxxxx"}], "video": {"media_id": "WWCISP_xxxxxxxx", "thumb_media_id": "WWCISP_xxxxxxxx"},
                   "link": {"title": "腾讯网-QQ.COM", "url": "https://www.qq.com"}, "location": {"latitude": 23.10647, "longitude": 113.32446, "name": "广州市 · 广州塔"}}]})),
        post("get_moment_task", "get_moment_task", json!({"moment_id": "momxxx", "cursor": "CURSOR", "limit": 10}),
            json!({"next_cursor": "CURSOR", "task_list": [{"userid": "zhangshan", "publish_status": 1}]})),
        post("get_moment_customer_list", "get_moment_customer_list", json!({"moment_id": "momxxx", "userid": "xxx", "limit": 10}),
            json!({"next_cursor": "", "customer_list": [{"userid": "xxx", "external_userid": "woAJ2GCAAAd4uL12hdfsdasassdDmAAAAA"}]})),
        post("get_moment_send_result", "get_moment_send_result", json!({"moment_id": "momxxx", "userid": "xxx", "cursor": "CURSOR", "limit": 100}),
            json!({"next_cursor": "CURSOR", "customer_list": [{"external_userid": "woAJ2GCAAAd4uL12hdfsdasassdDmAAAAA"}]})),
        post("get_moment_comments", "get_moment_comments", json!({"moment_id": "momxxx", "userid": "xxx"}),
            json!({"comment_list": [{"external_userid": "woAJ2GCAAAXtWyujaWJHDDGi0mACHAAA", "create_time": 1605172726}, {"userid": "zhangshan", "create_time": 1605172729}],
                   "like_list": [{"external_userid": "woAJ2GCAAAXtWyujaWJHDDGi0mACHAAA", "create_time": 1605172726}]})),
        post("add_moment_task", "add_moment_task",
            json!({"text": {"content": "文本消息内容"},
                   "attachments": [{"msgtype": "image", "image": {"media_id": "MEDIA_ID"}},
                                   {"msgtype": "video", "video": {"media_id": "MEDIA_ID"}},
                                   {"msgtype": "link", "link": {"title": "消息标题", "url": "https://example.link.com/path", "media_id": "MEDIA_ID"}}],
                   "visible_range": {"sender_list": {"user_list": ["zhangshan", "lisi"], "department_list": [2, 3]},
                                     "external_contact_list": {"tag_list": ["etXXXXXXXXXX", "etYYYYYYYYYY"]}}}),
            json!({"jobid": "xxxx"})),
        get("get_moment_task_result", "get_moment_task_result", json!({"jobid": "xxxx"}),
            json!({"status": 1, "type": "add_moment_task",
                   "result": {"errcode": 0, "errmsg": "ok", "moment_id": "xxxx",
                              "invalid_sender_list": {"user_list": ["zhangshan", "lisi"], "department_list": [2, 3]},
                              "invalid_external_contact_list": {"tag_list": ["xxx"]}}})),
        post("cancel_moment_task", "cancel_moment_task", json!({"moment_id": "momxxxxxx"}), json!({})),
        // 群发与欢迎语
        post("add_msg_template", "add_msg_template",
            json!({"chat_type": "single", "external_userid": ["woAJ2GCAAAXtWyujaWJHDDGi0mACAAAA"], "chat_id_list": ["wrOgQhDgAAcwMTB7YmDkbeBsgT_AAAA"],
                   "tag_filter": {"group_list": [{"tag_list": ["etXXXXXXXXXX", "etYYYYYYYYYY"]}]}, "sender": "zhangsan", "allow_select": true,
                   "text": {"content": "文本消息内容"}, "attachments": attachments()}),
            json!({"fail_list": ["wmqfasd1e1927831123109rBAAAA"], "msgid": "msgGCAAAXtWyujaWJHDDGi0mAAAA"})),
        post("get_groupmsg_list_v2", "get_groupmsg_list_v2",
            json!({"chat_type": "single", "start_time": 1605171726, "end_time": 1605172726, "creator": "zhangshan", "filter_type": 1, "limit": 50, "cursor": "CURSOR"}),
            json!({"next_cursor": "CURSOR", "group_msg_list": [{"msgid": "msgGCAAAXtWyujaWJHDDGi0mAAAA", "creator": "xxxx", "create_time": 1605172726, "create_type": 1,
                   "text": {"content": "文本消息内容"}, "attachments": attachments()}]})),
        post("get_groupmsg_task", "get_groupmsg_task", json!({"msgid": "msgGCAAAXtWyujaWJHDDGi0mACAAAA", "limit": 50, "cursor": "CURSOR"}),
            json!({"next_cursor": "CURSOR", "task_list": [{"userid": "zhangshan", "status": 1, "send_time": 1552536375}]})),
        post("get_groupmsg_send_result", "get_groupmsg_send_result", json!({"msgid": "msgGCAAAXtWyujaWJHDDGi0mACAAAA", "userid": "zhangshan", "limit": 50, "cursor": "CURSOR"}),
            json!({"next_cursor": "CURSOR", "send_list": [{"external_userid": "wmqfasd1e19278asdasAAAA", "chat_id": "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA", "userid": "zhangsan", "status": 1, "send_time": 1552536375}]})),
        post("send_welcome_msg", "send_welcome_msg", json!({"welcome_code": "CALLBACK_CODE", "text": {"content": "文本消息内容"}, "attachments": attachments()}), json!({})),
        post("remind_groupmsg_send", "remind_groupmsg_send", json!({"msgid": "msgGCAAAXtWyujaWJHDDGi0mACAAAA"}), json!({})),
        post("cancel_groupmsg_send", "cancel_groupmsg_send", json!({"msgid": "msgGCAAAXtWyujaWJHDDGi0mACAAAA"}), json!({})),
        // 入群欢迎语素材
        post("group_welcome_template_add", "group_welcome_template/add",
            json!({"text": {"content": "亲爱的%NICKNAME%用户，你好"}, "image": {"media_id": "MEDIA_ID", "pic_url": "http://p.qpic.cn/pic_wework/x"},
                   "link": {"title": "消息标题", "picurl": "https://example.pic.com/path", "desc": "消息描述", "url": "https://example.link.com/path"},
                   "miniprogram": {"title": "消息标题", "pic_media_id": "MEDIA_ID", "appid": "wx8bd80126147dfAAA", "page": "/path/index"},
                   "file": {"media_id": "1Yv-zXfHjSjU-7LH-GwtYqDGS-zz6w22KmWAT5COgP7o"},
                   "video": {"media_id": "MEDIA_ID"}, "agentid": 1000014, "notify": 1}),
            json!({"template_id": "msgXXXXXXX"})),
        post("group_welcome_template_edit", "group_welcome_template/edit",
            json!({"template_id": "msgXXXXXXX", "text": {"content": "亲爱的%NICKNAME%用户，你好"}, "agentid": 1000014}), json!({})),
        post("group_welcome_template_get", "group_welcome_template/get", json!({"template_id": "msgXXXXXXX"}),
            json!({"text": {"content": "亲爱的%NICKNAME%用户，你好"}, "image": {"pic_url": "http://p.qpic.cn/pic_wework/x"},
                   "link": {"title": "消息标题", "picurl": "https://example.pic.com/path", "desc": "消息描述", "url": "https://example.link.com/path"},
                   "miniprogram": {"title": "消息标题", "pic_media_id": "MEDIA_ID", "appid": "wx8bd80126147dfAAA", "page": "/path/index"},
                   "file": {"media_id": "1Yv-zXfHjSjU-7LH-GwtYqDGS-zz6w22KmWAT5COgP7o"}, "video": {"media_id": "MEDIA_ID"}})),
        post("group_welcome_template_del", "group_welcome_template/del", json!({"template_id": "msgXXXXXXX", "agentid": 1000014}), json!({})),
        // 统计
        post("get_user_behavior_data", "get_user_behavior_data", json!({"userid": ["zhangsan", "lisi"], "partyid": [1001, 1002], "start_time": 1536508800, "end_time": 1536595200}),
            json!({"behavior_data": [{"stat_time": 1536508800, "chat_cnt": 100, "message_cnt": 80, "reply_percentage": 60.25, "avg_reply_time": 1,
                   "negative_feedback_cnt": 0, "new_apply_cnt": 6, "new_contact_cnt": 5}, {"stat_time": 1536595200, "chat_cnt": 20, "message_cnt": 40,
                   "negative_feedback_cnt": 0, "new_apply_cnt": 6, "new_contact_cnt": 5}]})),
        post("groupchat_statistic", "groupchat/statistic",
            json!({"day_begin_time": 1600272000, "day_end_time": 1600444800, "owner_filter": {"userid_list": ["zhangsan"]}, "order_by": 2, "order_asc": 0, "offset": 0, "limit": 1000}),
            json!({"total": 2, "next_offset": 2, "items": [{"owner": "zhangsan", "data": stat_data()}]})),
        post("groupchat_statistic_group_by_day", "groupchat/statistic_group_by_day",
            json!({"day_begin_time": 1600272000, "day_end_time": 1600358400, "owner_filter": {"userid_list": ["zhangsan"]}}),
            json!({"items": [{"stat_time": 1600272000, "data": stat_data()}]})),
        // 获客助手
        post("customer_acquisition_list_link", "customer_acquisition/list_link", json!({"limit": 100, "cursor": "CURSOR"}),
            json!({"link_id_list": ["LINK_ID_AAA", "LINK_ID_BBB"], "next_cursor": "CURSOR"})),
        post("customer_acquisition_get", "customer_acquisition/get", json!({"link_id": "LINK_ID"}),
            json!({"link": {"link_name": "获客链接1号", "url": "work.weixin.qq.com/ca/xxxxxx", "create_time": 1672502400, "skip_verify": true, "link_id": "LINK_ID"},
                   "range": {"user_list": ["rocky", "sam"], "department_list": [1]},
                   "priority_option": {"priority_type": 1, "priority_userid_list": ["rocky"]}})),
        post("customer_acquisition_create_link", "customer_acquisition/create_link",
            json!({"link_name": "获客链接1号", "range": {"user_list": ["zhangsan", "lisi"], "department_list": [2, 3]}, "skip_verify": true,
                   "priority_option": {"priority_type": 1, "priority_userid_list": ["rocky"]}}),
            json!({"link": {"link_id": "LINK_ID", "link_name": "获客链接1号", "url": "work.weixin.qq.com/ca/xxxxxx", "create_time": 1672502400}})),
        post("customer_acquisition_update_link", "customer_acquisition/update_link",
            json!({"link_id": "LINK_ID", "link_name": "获客链接1号", "range": {"user_list": ["zhangsan"]}, "skip_verify": false}), json!({})),
        post("customer_acquisition_delete_link", "customer_acquisition/delete_link", json!({"link_id": "LINK_ID"}), json!({})),
        // ID 转换
        post("unionid_to_external_userid", "unionid_to_external_userid", json!({"unionid": "oAAAAAAA", "openid": "oBBBB", "subject_type": 1}),
            json!({"external_userid": "ooAAAAAAAAAAA", "pending_id": "pAAAAAAA"})),
        post("get_new_external_userid", "get_new_external_userid", json!({"external_userid_list": ["xxxxx", "yyyyyy"]}),
            json!({"items": [{"external_userid": "xxxxx", "new_external_userid": "AAAA"}, {"external_userid": "yyyyy", "new_external_userid": "BBBB"}]})),
        post("from_service_external_userid", "from_service_external_userid", json!({"source_agentid": 1000001, "external_userid": "woAAAA"}),
            json!({"external_userid": "woBBBB"})),
        post("groupchat_get_new_external_userid", "groupchat/get_new_external_userid",
            json!({"chat_id": "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA", "external_userid_list": ["xxxxx", "yyyyyy"]}),
            json!({"items": [{"external_userid": "xxxxx", "new_external_userid": "AAAA"}]})),
        post("opengid_to_chatid", "opengid_to_chatid", json!({"opengid": "oAAAAAAA"}), json!({"chat_id": "ooAAAAAAAAAAA"})),
    ]
}

/// Whether every field of `expected` is in `actual` with the same value (recursively).
fn contains(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(actual), Value::Object(expected)) => expected
            .iter()
            .all(|(key, value)| actual.get(key).is_some_and(|found| contains(found, value))),
        (Value::Array(actual), Value::Array(expected)) => {
            actual.len() == expected.len()
                && actual.iter().zip(expected).all(|(a, e)| contains(a, e))
        }
        (Value::Number(actual), Value::Number(expected)) => actual.as_f64() == expected.as_f64(),
        _ => actual == expected,
    }
}

fn query_value(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The method list is what the catalogue asks for: every required name, no duplicates.
#[test]
fn methods_are_exactly_the_catalogue() {
    let listed: BTreeSet<&str> = METHODS.iter().copied().collect();
    assert_eq!(listed.len(), METHODS.len(), "duplicates in METHODS");
    let cases = cases();
    let required: BTreeSet<&str> = cases.iter().map(|case| case.name).collect();
    assert_eq!(required.len(), cases.len(), "duplicate test cases");
    assert_eq!(listed, required);
    assert_eq!(METHODS.len(), 73);
    for case in &cases {
        assert_eq!(case.name, case.path.replace('/', "_"), "naming rule");
    }
}

/// Every method: right verb, path and query, exact body, and the answer decoded and printed.
#[tokio::test]
async fn every_method_end_to_end() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/cgi-bin/gettoken"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"errcode": 0, "errmsg": "ok", "access_token": TOKEN, "expires_in": 7200}),
        ))
        .expect(1)
        .mount(&server)
        .await;

    let client = Client::builder()
        .corp_id("wwENDPOINTS")
        .secret("secret")
        .base_url(server.uri())
        .build()
        .expect("client");

    let mut failures = Vec::new();
    for case in cases() {
        let full_path = format!("/cgi-bin/externalcontact/{}", case.path);
        let mut body = json!({"errcode": 0, "errmsg": "ok"});
        if let (Some(body), Some(answer)) = (body.as_object_mut(), case.answer.as_object()) {
            body.extend(answer.clone());
        }
        let mut mock = Mock::given(method(case.verb))
            .and(path(full_path.as_str()))
            .and(query_param("access_token", TOKEN));
        if case.verb == "GET" {
            for (key, value) in case.request.as_object().into_iter().flatten() {
                mock = mock.and(query_param(key.as_str(), query_value(value).as_str()));
            }
        } else {
            mock = mock.and(body_json(case.request.clone()));
        }
        mock.respond_with(ResponseTemplate::new(200).set_body_json(body))
            .expect(1)
            .named(case.name)
            .mount(&server)
            .await;

        match call_by_name(&client, case.name, &case.request.to_string()).await {
            Ok(printed) if contains(&printed, &case.answer) => {}
            Ok(printed) => failures.push(format!(
                "{}: printed {printed}\n  expected ⊇ {}",
                case.name, case.answer
            )),
            Err(err) => failures.push(format!("{}: {err}", case.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} endpoint(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The `api` command, as a user runs it: walk `api --list` and call every method through the
/// real binary against the fake WeCom; each prints the answer as JSON and exits 0. A non-zero
/// errcode exits 1 with `errcode N: errmsg` on stderr.
#[tokio::test]
async fn every_method_through_the_cli() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/cgi-bin/gettoken"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"errcode": 0, "errmsg": "ok", "access_token": TOKEN, "expires_in": 7200}),
        ))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[api]
base_url = "{}"
[[apps]]
name = "contacts"
path = "/callback/contacts"
corp_id = "wwENDPOINTS"
token = "QDG6eK"
encoding_aes_key = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
secret = "secret"
"#,
            server.uri()
        ),
    )
    .expect("config");
    let bin = env!("CARGO_BIN_EXE_wecom-callback");
    let listed = std::process::Command::new(bin)
        .args(["api", "--list"])
        .output()
        .expect("api --list");
    assert!(listed.status.success());
    let names: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(names.len(), METHODS.len());

    let cases = cases();
    let mut failures = Vec::new();
    for name in &names {
        let Some(case) = cases.iter().find(|c| c.name == name) else {
            failures.push(format!("{name}: no test case"));
            continue;
        };
        let full_path = format!("/cgi-bin/externalcontact/{}", case.path);
        let mut body = json!({"errcode": 0, "errmsg": "ok"});
        if let (Some(body), Some(answer)) = (body.as_object_mut(), case.answer.as_object()) {
            body.extend(answer.clone());
        }
        let mut mock = Mock::given(method(case.verb)).and(path(full_path.as_str()));
        if case.verb == "POST" {
            mock = mock.and(body_json(case.request.clone()));
        }
        mock.respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(&server)
            .await;
        let out = std::process::Command::new(bin)
            .args(["api", "--config"])
            .arg(&config)
            .arg(name)
            .arg(case.request.to_string())
            .output()
            .expect("run api");
        let printed: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        if !out.status.success() || !contains(&printed, &case.answer) {
            failures.push(format!(
                "{name}: exit {:?}, stderr {}, stdout {}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).trim(),
                String::from_utf8_lossy(&out.stdout).trim()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    server.reset().await;
    Mock::given(method("GET"))
        .and(path("/cgi-bin/gettoken"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"errcode": 0, "errmsg": "ok", "access_token": TOKEN, "expires_in": 7200}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/externalcontact/send_welcome_msg"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"errcode": 41051, "errmsg": "customer already chatting"})),
        )
        .mount(&server)
        .await;
    let out = std::process::Command::new(bin)
        .args(["api", "--config"])
        .arg(&config)
        .args([
            "send_welcome_msg",
            r#"{"welcome_code":"C","text":{"content":"hi"}}"#,
        ])
        .output()
        .expect("run api");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "error: errcode 41051: customer already chatting"
    );
    let out = std::process::Command::new(bin)
        .args(["api", "--config"])
        .arg(&config)
        .args(["send_welcome_msg", r#"{"welcome_code":"C","txet":{}}"#])
        .output()
        .expect("run api");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("txet"));
}
